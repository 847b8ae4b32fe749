-- RESTART: cancel a dead run's stale state, confirm, then run (issue 19)
ALTER TYPE "IntentKind" ADD VALUE 'RESTART';
