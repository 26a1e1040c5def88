CREATE INDEX "metering_rollups_bucket_brin" ON "metering_rollups" USING brin ("bucket");--> statement-breakpoint
CREATE INDEX "metering_samples_ts_brin" ON "metering_samples" USING brin ("ts");