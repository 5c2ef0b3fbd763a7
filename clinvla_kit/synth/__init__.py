"""clinvla_kit.synth: the SynthCXR generator.

``SYNTHCXR_VERSION`` names what a given seed produces. Bump the minor version when the generator adds files and the
major version when the images, reports or labels of a seed change; shipped weights' model cards record it.
- 1.0.0: images, reports, labels, annotations and benchmark subsets as of commit 7651aa9.
- 1.1.0: adds report style variants, typed wrong variants and the site-B cohort files (``report_variants.jsonl``,
  ``report_errors.jsonl``); the 1.0.0 files of a seed are unchanged.
"""

SYNTHCXR_VERSION = "1.1.0"
