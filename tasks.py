"""The project's own chores, composed with the `coord` collection it ships.

`invoke --list` shows both: `test`, `lint`, `bench`, and `coord.run`, `coord.status`, ...
"""

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from mosaic_invoke import coord


@task(help={"args": "extra pytest arguments, e.g. '-k golden -x'"})
def test(c: Context, args: str = "") -> None:
    """Run the test suite."""
    c.run(f"python -m pytest {args}", pty=False)


@task
def lint(c: Context) -> None:
    """Run ruff (check and format --check) and mypy."""
    c.run("ruff check mosaic_invoke tests benchmarks examples tasks.py")
    c.run("ruff format --check mosaic_invoke tests benchmarks examples tasks.py")
    c.run("mypy")


@task
def bench(c: Context) -> None:
    """Run the benchmarks and print the figures against the `invoke --version` baseline."""
    c.run("python benchmarks/run.py")


ns = Collection(test, lint, bench)
ns.add_collection(coord)
