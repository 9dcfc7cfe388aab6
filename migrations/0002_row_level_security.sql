-- Row-level security on every table, at least one SELECT policy each.
-- Policies are created in guarded DO blocks so the file can run again.

ALTER TABLE public.events         ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.ads_source_a   ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.ads_source_b   ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.daily_metrics  ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.etl_runs       ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.etl_quarantine ENABLE ROW LEVEL SECURITY;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_policies
                 WHERE schemaname = 'public' AND tablename = 'events' AND policyname = 'events_select_own') THEN
    CREATE POLICY events_select_own ON public.events
      FOR SELECT TO authenticated
      USING ((SELECT auth.uid()) = user_id);
  END IF;

  IF NOT EXISTS (SELECT FROM pg_policies
                 WHERE schemaname = 'public' AND tablename = 'ads_source_a' AND policyname = 'ads_source_a_select_authenticated') THEN
    CREATE POLICY ads_source_a_select_authenticated ON public.ads_source_a
      FOR SELECT TO authenticated USING (true);
  END IF;

  IF NOT EXISTS (SELECT FROM pg_policies
                 WHERE schemaname = 'public' AND tablename = 'ads_source_b' AND policyname = 'ads_source_b_select_authenticated') THEN
    CREATE POLICY ads_source_b_select_authenticated ON public.ads_source_b
      FOR SELECT TO authenticated USING (true);
  END IF;

  IF NOT EXISTS (SELECT FROM pg_policies
                 WHERE schemaname = 'public' AND tablename = 'daily_metrics' AND policyname = 'daily_metrics_select_authenticated') THEN
    CREATE POLICY daily_metrics_select_authenticated ON public.daily_metrics
      FOR SELECT TO authenticated USING (true);
  END IF;

  IF NOT EXISTS (SELECT FROM pg_policies
                 WHERE schemaname = 'public' AND tablename = 'etl_runs' AND policyname = 'etl_runs_select_service') THEN
    CREATE POLICY etl_runs_select_service ON public.etl_runs
      FOR SELECT TO service_role USING (true);
  END IF;

  IF NOT EXISTS (SELECT FROM pg_policies
                 WHERE schemaname = 'public' AND tablename = 'etl_quarantine' AND policyname = 'etl_quarantine_select_service') THEN
    CREATE POLICY etl_quarantine_select_service ON public.etl_quarantine
      FOR SELECT TO service_role USING (true);
  END IF;
END
$$;
