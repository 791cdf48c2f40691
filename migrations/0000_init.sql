CREATE TABLE "collections" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "collections_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"name" text NOT NULL,
	"description" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "collections_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "eval_runs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"model_id" text NOT NULL,
	"model_version" text NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"params" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"metrics" jsonb,
	"report" jsonb,
	"error_code" text,
	"error_message" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "eval_runs_status_ck" CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled'))
);
--> statement-breakpoint
CREATE TABLE "faces" (
	"id" uuid PRIMARY KEY NOT NULL,
	"image_id" integer NOT NULL,
	"collection_id" integer NOT NULL,
	"face_index" integer NOT NULL,
	"box_x" double precision NOT NULL,
	"box_y" double precision NOT NULL,
	"box_width" double precision NOT NULL,
	"box_height" double precision NOT NULL,
	"detection_score" real NOT NULL,
	"probs" real[] NOT NULL,
	"label" text NOT NULL,
	"model_id" text NOT NULL,
	"model_version" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "faces_face_index_ck" CHECK (face_index >= 0)
);
--> statement-breakpoint
CREATE TABLE "images" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "images_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"collection_id" integer NOT NULL,
	"sha256" text NOT NULL,
	"uri" text NOT NULL,
	"size_bytes" bigint NOT NULL,
	"width" integer,
	"height" integer,
	"status" text DEFAULT 'pending' NOT NULL,
	"face_count" integer,
	"error_code" text,
	"error_message" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "images_id_collection_uq" UNIQUE("id","collection_id"),
	CONSTRAINT "images_status_ck" CHECK (status IN ('pending', 'indexed', 'failed')),
	CONSTRAINT "images_sha256_ck" CHECK (sha256 ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
CREATE TABLE "index_runs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"collection_id" integer NOT NULL,
	"model_id" text NOT NULL,
	"model_version" text NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"source" text,
	"params" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"images_seen" bigint DEFAULT 0 NOT NULL,
	"images_indexed" bigint DEFAULT 0 NOT NULL,
	"images_skipped" bigint DEFAULT 0 NOT NULL,
	"images_failed" bigint DEFAULT 0 NOT NULL,
	"faces_indexed" bigint DEFAULT 0 NOT NULL,
	"decode_ms" bigint DEFAULT 0 NOT NULL,
	"detect_ms" bigint DEFAULT 0 NOT NULL,
	"embed_ms" bigint DEFAULT 0 NOT NULL,
	"write_ms" bigint DEFAULT 0 NOT NULL,
	"error_code" text,
	"error_message" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "index_runs_status_ck" CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled'))
);
--> statement-breakpoint
CREATE TABLE "models" (
	"id" text NOT NULL,
	"version" text NOT NULL,
	"dims" integer NOT NULL,
	"labels" text[] NOT NULL,
	"file_sha256" text,
	"manifest" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "models_pk" PRIMARY KEY("id","version")
);
--> statement-breakpoint
ALTER TABLE "eval_runs" ADD CONSTRAINT "eval_runs_model_fk" FOREIGN KEY ("model_id","model_version") REFERENCES "public"."models"("id","version") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "faces" ADD CONSTRAINT "faces_image_fk" FOREIGN KEY ("image_id","collection_id") REFERENCES "public"."images"("id","collection_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "faces" ADD CONSTRAINT "faces_model_fk" FOREIGN KEY ("model_id","model_version") REFERENCES "public"."models"("id","version") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "images" ADD CONSTRAINT "images_collection_id_collections_id_fk" FOREIGN KEY ("collection_id") REFERENCES "public"."collections"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "index_runs" ADD CONSTRAINT "index_runs_collection_id_collections_id_fk" FOREIGN KEY ("collection_id") REFERENCES "public"."collections"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "index_runs" ADD CONSTRAINT "index_runs_model_fk" FOREIGN KEY ("model_id","model_version") REFERENCES "public"."models"("id","version") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "eval_runs_model_idx" ON "eval_runs" USING btree ("model_id","model_version","created_at");--> statement-breakpoint
CREATE INDEX "eval_runs_status_idx" ON "eval_runs" USING btree ("status","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "faces_image_face_model_uq" ON "faces" USING btree ("image_id","face_index","model_id","model_version");--> statement-breakpoint
CREATE INDEX "faces_collection_model_idx" ON "faces" USING btree ("collection_id","model_id","model_version");--> statement-breakpoint
CREATE UNIQUE INDEX "images_collection_sha256_uq" ON "images" USING btree ("collection_id","sha256");--> statement-breakpoint
CREATE INDEX "images_collection_status_idx" ON "images" USING btree ("collection_id","status");--> statement-breakpoint
CREATE INDEX "index_runs_collection_status_idx" ON "index_runs" USING btree ("collection_id","status","created_at");--> statement-breakpoint
CREATE INDEX "index_runs_status_idx" ON "index_runs" USING btree ("status","created_at");