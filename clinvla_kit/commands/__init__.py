"""CLI sub-commands: each module has ``add_arguments(parser)`` and ``run(args) -> int``.

Command modules import only argparse at module level and defer heavy imports into ``run`` so that building the
parser stays fast. They convert arguments to library calls at once (style rule 4: argparse only at the edge).
"""
