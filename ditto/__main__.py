"""`python -m ditto ...`: the `ditto` command (recipes, `run`, `summarize`), also under torchrun."""

from ditto.app.command import main

if __name__ == "__main__":
    main()
