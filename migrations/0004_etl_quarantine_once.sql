-- ETL bookkeeping that a hostile source cannot bend (etl/load.py, etl/ledger.py).
--
-- 1. A rejected payload is quarantined once per source: a look-back re-run that rejects the same
--    payload again points its row at the latest run (run_id) instead of adding another row.
--    `payload_sha256` is the hex SHA-256 of raw_payload (UTF-8). Rows quarantined repeatedly
--    before this migration keep their history: only the first of each gets the digest.
ALTER TABLE public.etl_quarantine ADD COLUMN IF NOT EXISTS payload_sha256 text;
COMMENT ON COLUMN public.etl_quarantine.payload_sha256
    IS 'hex SHA-256 of raw_payload: one row per source and payload';

UPDATE public.etl_quarantine AS q
   SET payload_sha256 = encode(sha256(convert_to(q.raw_payload, 'UTF8')), 'hex')
 WHERE q.payload_sha256 IS NULL
   AND q.quarantine_id = (SELECT min(f.quarantine_id) FROM public.etl_quarantine AS f
                           WHERE f.source = q.source AND f.raw_payload = q.raw_payload)
   AND NOT EXISTS (SELECT FROM public.etl_quarantine AS d
                    WHERE d.source = q.source
                      AND d.payload_sha256 = encode(sha256(convert_to(q.raw_payload, 'UTF8')), 'hex'));

CREATE UNIQUE INDEX IF NOT EXISTS etl_quarantine_source_payload_key
    ON public.etl_quarantine (source, payload_sha256);

-- 2. A succeeded run's counts add up: nothing read is lost outside the count.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_constraint
                  WHERE conname = 'etl_runs_rows_add_up'
                    AND conrelid = 'public.etl_runs'::regclass) THEN
    ALTER TABLE public.etl_runs ADD CONSTRAINT etl_runs_rows_add_up CHECK (
      status <> 'succeeded'
      OR rows_read = rows_inserted + rows_updated + rows_unchanged + rows_quarantined);
  END IF;
END
$$;
