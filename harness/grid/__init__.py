"""Running strategy x benchmark x seed grids: what `nas-harness run` does around the Hydra app.

One module per job, so each can be read and changed alone:

- `execute`: one resolved run config -> the engine (or a one-shot method) -> a trajectory.
- `batching`: the grid planned in the driver (RUN_IDs, finished runs skipped) and cut into launcher jobs.
- `run_folder`: one run into its RUN_ID folder, under its run lock; refuses folders that are links.
- `files`: a run's trajectory and manifest, written cheaply and atomically.
- `ledger`: the driver's temporary folder that workers report to (progress bar) and the grid's job list.
- `summary`: each run's outcome as the results folder shows it, the closing summary and exit code.
- `progress`: the progress bar.
- `checks`: what is checked before Hydra starts (command line, output folders, launchers).

harness.app holds the Hydra app itself and re-exports the names other modules and tests use.
Nothing here is imported by a lower layer (the engine, results, report).
"""
