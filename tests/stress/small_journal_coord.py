"""`mosaic-coord` with state.journal's bound lowered to 8 KiB: a short stress test then folds the
journal into state.json every few sessions, as a long mission does every few dozen."""

from mosaic_invoke.cli import main
from mosaic_invoke.store import state

state.JOURNAL_BOUND = 8 * 1024
main()
