-- name: collect-select-into
-- table: victim
-- Attack SELECT ... INTO creates a table.
SELECT * INTO public.stolen FROM public.victim WHERE false;
