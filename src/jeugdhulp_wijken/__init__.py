"""Jeugdhulp in de wijken: a reproducible research compendium.

Reproduces the SCP model *Jeugdhulp in de wijk* (SCP-publicatie 2020-1) and the
HHS / Kennisnetwerk Jeugd Haaglanden study *Jeugdhulp in de wijken* (2020).
The logic lives in this package; the notebooks in ``notebooks/`` narrate and call it.
"""

__version__ = "0.1.0"
