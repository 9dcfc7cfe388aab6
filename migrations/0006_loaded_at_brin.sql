-- Incremental data-quality gates (checks/dq/*.toml with `incremental = "loaded_at"`):
-- BRIN indexes on the domain tables' loaded_at: an incremental gate reads only the rows loaded
-- after its watermark, and a BRIN index finds them for a few pages of index (rows arrive in
-- loaded_at order, so block ranges stay tight).
CREATE INDEX IF NOT EXISTS events_loaded_at_brin ON public.events USING brin (loaded_at);
CREATE INDEX IF NOT EXISTS ads_source_a_loaded_at_brin ON public.ads_source_a USING brin (loaded_at);
CREATE INDEX IF NOT EXISTS ads_source_b_loaded_at_brin ON public.ads_source_b USING brin (loaded_at);
