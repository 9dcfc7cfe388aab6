-- name: collect-comment-smuggle
-- table: victim
-- Attack a second statement after a comment.
SELECT id FROM public.victim WHERE false /* ; */ ; DELETE FROM public.victim;
