"""The ablation variants of the method, as config overrides: one place for the benchmark and the tests.

  source_only           supervised L1 on source only
  cycle                 + photometric cycle loss on both domains
  adversarial           + adversarial loss on D's features (F sees depth features + image)
  adversarial_semantic  + S (on D's encoder by default: model.shared_backbone), its cross-entropy on both
                        domains, and its features shown to F (the full method of Lu, Yu & Oh)
  full_curriculum       + curriculum over target complexity
  oracle                source_only plus target depth labels (the upper bound)
"""
from __future__ import annotations

ABLATION_VARIANTS: dict[str, list[str]] = {
    "source_only": ["loss.cycle=0", "loss.adv=0", "loss.seg=0", "model.semantics=false", "curriculum.enabled=false"],
    "cycle": ["loss.adv=0", "loss.seg=0", "model.semantics=false", "curriculum.enabled=false"],
    "adversarial": ["loss.seg=0", "model.semantics=false", "curriculum.enabled=false"],
    "adversarial_semantic": ["curriculum.enabled=false"],
    "full_curriculum": ["curriculum.enabled=true"],
    "oracle": ["loss.cycle=0", "loss.adv=0", "loss.seg=0", "model.semantics=false", "curriculum.enabled=false",
               "loss.target_depth=1.0"],
}
