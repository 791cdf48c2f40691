CREATE TABLE "face_identities" (
	"face_id" uuid PRIMARY KEY NOT NULL,
	"collection_id" integer NOT NULL,
	"model" text NOT NULL,
	"descriptor" real[] NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "collections" ADD COLUMN "identity_descriptors" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "face_identities" ADD CONSTRAINT "face_identities_face_id_faces_id_fk" FOREIGN KEY ("face_id") REFERENCES "public"."faces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "face_identities" ADD CONSTRAINT "face_identities_collection_id_collections_id_fk" FOREIGN KEY ("collection_id") REFERENCES "public"."collections"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "face_identities_collection_idx" ON "face_identities" USING btree ("collection_id");