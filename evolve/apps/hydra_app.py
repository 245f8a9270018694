"""Hydra configs for ``evolve-train`` / ``evolve-eval``: composed from the configs shipped in the
package (:mod:`evolve.configs`), checked against the typed schema, with a real ``--help``.

Command line: ``KEY=VALUE`` overrides and config-group choices (``model=small data=demo``) as
in Cutie, plus

- ``--help`` / ``-h``: usage, the main keys, examples;
- ``--cfg job``: the full composed config (every key and its value), then exit;
- ``--config-dir DIR``: also look for config groups in ``DIR`` (your own ``DIR/data/mine.yaml``
  is then ``data=mine``).

Every key must exist in the schema, whether it was set in YAML, as ``key=value`` or as
``+key=value``: a misspelt key is an error naming it (exit 2), never silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from evolve.utils.errors import InputError


@dataclass(frozen=True)
class HydraApp:
    """One Hydra-configured program.

    Attributes:
        prog: the command name shown in messages (``evolve-train``).
        config_name: the primary config (``train_config``).
        schema_name: the name its defaults list uses for the schema (``train_schema``).
        schema: the dataclass every key is checked against.
        help_text: what ``--help`` prints (``{groups}`` is replaced by the available choices).
        groups: the config groups the program takes (listed by ``--help``).
    """

    prog: str
    config_name: str
    schema_name: str
    schema: type
    help_text: str
    groups: tuple[str, ...] = ("model", "data")


@dataclass
class HydraArgs:
    """The parsed command line: overrides and the program's own options."""

    overrides: list[str]
    help: bool = False
    cfg: Optional[str] = None
    config_dirs: tuple[str, ...] = ()


def parse_hydra_args(argv: Sequence[str], prog: str) -> HydraArgs:
    """Split ``argv`` into overrides and options.

    Raises:
        InputError: an unknown ``--option`` or a missing option value.
    """
    args = HydraArgs(overrides=[])
    it = iter(argv)
    for token in it:
        if token in ("-h", "--help"):
            args.help = True
        elif token in ("--cfg", "-c"):
            value = next(it, None)
            if value not in ("job", "all"):
                raise InputError(None, f"{prog}: --cfg needs 'job' (or 'all')", f"run {prog} [overrides] --cfg job")
            args.cfg = value
        elif token.startswith("--cfg="):
            args.cfg = token.split("=", 1)[1]
        elif token in ("--config-dir", "-cd"):
            value = next(it, None)
            if not value:
                raise InputError(None, f"{prog}: --config-dir needs a folder", f"run {prog} --config-dir <folder with data/, model/> ...")
            args.config_dirs += (value,)
        elif token.startswith("--config-dir="):
            args.config_dirs += (token.split("=", 1)[1],)
        elif token.startswith("-"):
            raise InputError(None, f"{prog}: unknown option {token!r}", f"see {prog} --help; settings are KEY=VALUE (no dashes)")
        else:
            args.overrides.append(token)
    return args


def group_choices(group: str, config_dirs: Sequence[str] = ()) -> list[str]:
    """Config names available in ``group`` (``model``, ``data``) in the package and ``config_dirs``."""
    from evolve.configs import CONFIG_DIR

    names: set[str] = set()
    for base in [CONFIG_DIR, *map(Path, config_dirs)]:
        folder = base / group
        if folder.is_dir():
            names |= {p.stem for p in folder.glob("*.yaml")}
    return sorted(names)


def _unknown_key_error(exc: Exception, prog: str) -> InputError:
    """One line from a Hydra composition error, without its misleading ``+key=...`` hint."""
    text = str(exc).split("\nTo append")[0].strip().rstrip(".")
    cause = exc.__cause__
    if cause is not None and str(cause).strip():
        text += f": {str(cause).strip().splitlines()[0]}"
    return InputError(None, f"{prog}: {text}", f"check the spelling; `{prog} --cfg job` prints every key and its value")


def compose(app: HydraApp, args: HydraArgs) -> DictConfig:
    """Compose the config and check every key against ``app.schema``.

    Raises:
        InputError: unknown keys or groups, wrong types, bad override syntax, a missing
            ``--config-dir``.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    ConfigStore.instance().store(name=app.schema_name, node=app.schema)
    overrides = list(args.overrides)
    for d in args.config_dirs:
        if not Path(d).is_dir():
            raise InputError(d, "--config-dir folder does not exist", "give a folder holding data/ or model/ config groups")
    if args.config_dirs:
        paths = ",".join(f"file://{Path(d).resolve()}" for d in args.config_dirs)
        overrides.append(f"hydra.searchpath=[{paths}]")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="evolve.configs", version_base="1.3"):
            cfg = hydra_compose(config_name=app.config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise _unknown_key_error(exc, app.prog) from exc
    finally:
        GlobalHydra.instance().clear()
    check_keys(cfg, app.schema, app.prog)
    return cfg


def check_keys(cfg: DictConfig, schema: type, prog: str) -> None:
    """Refuse keys the schema does not have (also those added with ``+key=value``).

    Raises:
        InputError: naming the first unknown key.
    """
    from omegaconf.errors import OmegaConfBaseException

    try:
        OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.to_container(cfg, resolve=False))
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or ""
        raise InputError(None, f"{prog}: unknown or mistyped key {key!r} ({str(exc).splitlines()[0]})",
                         f"check the spelling; `{prog} --cfg job` prints every key and its value") from exc


def print_help(app: HydraApp, config_dirs: Sequence[str] = ()) -> None:
    """Print ``app.help_text`` with the available model and data choices."""
    groups = "\n".join(
        f"  {g + '=':<8}{' | '.join(group_choices(g, config_dirs))}" for g in app.groups if group_choices(g, config_dirs)
    )
    print(app.help_text.format(groups=groups, prog=app.prog).rstrip())


def resolve_or_error(cfg: DictConfig, prog: str) -> Any:
    """Resolve every interpolation now, so a bad one is an error naming it (not a crash later)."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as exc:
        raise InputError(None, f"{prog}: cannot resolve the config ({exc})", "fix the interpolation named above") from exc
    return cfg