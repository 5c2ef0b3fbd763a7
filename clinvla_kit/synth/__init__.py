"""clinvla_kit.synth: the SynthCXR generator.

``SYNTHCXR_VERSION`` names what a given seed produces. Bump the minor version when the generator adds files and the
major version when the images, reports or labels of a seed change, and the patch version when only the wording of
some report sentences changes (same facts, labels, images and random draws); shipped weights' model cards record it.
- 1.0.0: images, reports, labels, annotations and benchmark subsets as of commit 7651aa9.
- 1.1.0: adds report style variants, typed wrong variants and the site-B cohort files (``report_variants.jsonl``,
  ``report_errors.jsonl``); the 1.0.0 files of a seed are unchanged.
- 1.1.1: hedged report sentences are grammatical ("The appearance may represent X.", "X cannot be excluded."
  instead of "There is may represent X.", "Findings possible X.") and a plural finding takes a plural verb
  ("opacities ... are seen"); about 10% of a seed's reports (and their copies: the ``original`` rows of
  ``report_variants.jsonl``, pneumonia text queries of the benchmarks) change wording, with the same random
  draws, so images, labels, annotations and splits of a seed are those of 1.1.0.
"""

SYNTHCXR_VERSION = "1.1.1"
