CREATE TABLE "people" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "people_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"collection_id" integer NOT NULL,
	"name" text,
	"face_count" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "people_name_ck" CHECK (name IS NULL OR char_length(name) BETWEEN 1 AND 200)
);
--> statement-breakpoint
ALTER TABLE "face_identities" ADD COLUMN "person_id" integer;--> statement-breakpoint
ALTER TABLE "people" ADD CONSTRAINT "people_collection_id_collections_id_fk" FOREIGN KEY ("collection_id") REFERENCES "public"."collections"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "people_collection_faces_idx" ON "people" USING btree ("collection_id","face_count");--> statement-breakpoint
ALTER TABLE "face_identities" ADD CONSTRAINT "face_identities_person_id_people_id_fk" FOREIGN KEY ("person_id") REFERENCES "public"."people"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "face_identities_person_idx" ON "face_identities" USING btree ("person_id");