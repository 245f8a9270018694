"""``evolve-annotate``: a local web application to segment low-light event videos interactively and
export DAVIS-format masks (docs/annotate.md).

Modules, each with one job:

- :mod:`~evolve.apps.annotate.workspace`: what ``--data`` points at (a dataset root in any layout
  evolve reads, one sequence folder, or a video file), reading a sequence into memory at the
  working size, and the confinement of every request-derived path to the opened folders;
- :mod:`~evolve.apps.annotate.events`: events synthesised on request for sequences without any
  (video files), with the project's simulator;
- :mod:`~evolve.apps.annotate.networks`: loading the interaction and propagation networks from
  weights files (architecture and variant detected from the file);
- :mod:`~evolve.apps.annotate.state`: the server-side state (one interactive session per opened
  sequence, the interaction log, background jobs with progress and cancellation);
- :mod:`~evolve.apps.annotate.export`: palette PNGs in DAVIS layout, the DAVIS scribble JSON of
  every round, an overlay MP4, all written atomically and never over existing files unasked;
- :mod:`~evolve.apps.annotate.server`: the FastAPI application (JSON API + the static page);
- :mod:`~evolve.apps.annotate.program`: the command line (``evolve-annotate``).

The page (``static/``) is plain HTML/JS/canvas with no build step.
"""
