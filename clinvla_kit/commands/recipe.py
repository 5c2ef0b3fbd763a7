"""``clinvla-kit recipe``: every step of a preset's offline recipe (MAE pretraining where the preset has
``mae.enabled``, then alignment) -> OUT/run."""

from __future__ import annotations

import argparse

from clinvla_kit.commands._train_args import (
    add_common,
    add_overwrite,
    check_out_dir,
    refuse_duplicated_rows,
    run_reporting_errors,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser, "output directory: OUT/mae (image pretraining, when mae.enabled), OUT/run (final run), OUT/recipe.json")
    add_overwrite(parser)


def run(args: argparse.Namespace) -> int:
    import json

    from clinvla_kit import distributed
    from clinvla_kit.train.recipe import recipe

    def go() -> None:
        refuse_duplicated_rows(args.data)
        check_out_dir(args.out, False, args.overwrite, "recipe")
        result = recipe(args.data, args.out, preset=args.preset, max_steps=args.max_steps, overrides=args.overrides)
        if distributed.is_main():
            print(json.dumps({"run_dir": str(result.run_dir), **result.metrics}, indent=2, default=str))

    return run_reporting_errors("recipe", go)
