CREATE TABLE "image_embeddings" (
	"image_id" integer NOT NULL,
	"model_id" text NOT NULL,
	"model_version" text NOT NULL,
	"face_count" integer NOT NULL,
	"run_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "image_embeddings_pk" PRIMARY KEY("image_id","model_id","model_version"),
	CONSTRAINT "image_embeddings_face_count_ck" CHECK (face_count >= 0)
);
--> statement-breakpoint
CREATE TABLE "index_run_entries" (
	"run_id" uuid NOT NULL,
	"uri" text NOT NULL,
	"outcome" text DEFAULT 'pending' NOT NULL,
	"image_id" integer,
	"face_count" integer,
	"error_code" text,
	"error_message" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "index_run_entries_pk" PRIMARY KEY("run_id","uri"),
	CONSTRAINT "index_run_entries_outcome_ck" CHECK (outcome IN ('pending', 'indexed', 'skipped', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"key" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "index_runs" ADD COLUMN "discovered_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "image_embeddings" ADD CONSTRAINT "image_embeddings_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "image_embeddings" ADD CONSTRAINT "image_embeddings_run_id_index_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."index_runs"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "image_embeddings" ADD CONSTRAINT "image_embeddings_model_fk" FOREIGN KEY ("model_id","model_version") REFERENCES "public"."models"("id","version") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "index_run_entries" ADD CONSTRAINT "index_run_entries_run_id_index_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."index_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "index_run_entries" ADD CONSTRAINT "index_run_entries_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "index_run_entries_run_outcome_idx" ON "index_run_entries" USING btree ("run_id","outcome");