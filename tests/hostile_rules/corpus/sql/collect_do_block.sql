-- name: collect-do-block
-- table: victim
-- Attack a DO block runs PL/pgSQL.
DO $$ BEGIN DELETE FROM public.victim; END $$;
