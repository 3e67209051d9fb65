"""The constants of the study, in one place.

Everything here is a fact of the published studies (SCP 2020-1 and HHS 2020) or a fixed
choice of this compendium that several modules share. Modules import these names; no
other module repeats them.
"""
from __future__ import annotations

#: The year of the SCP wijk file (outcome and determinants, 2017 indeling).
YEAR = 2017

#: The number of wijk characteristics in the SCP model.
N_DETERMINANTS = 27

#: HHS study area: the 9 gemeenten of GGD Haaglanden / Kennisnetwerk Jeugd Haaglanden
#: (Den Haag, Delft, Leidschendam-Voorburg, Midden-Delfland, Pijnacker-Nootdorp, Rijswijk,
#: Wassenaar, Westland, Zoetermeer). Jeugdzorgregio Haaglanden (JZ24) also holds Voorschoten.
STUDY_AREA_GEMEENTEN: tuple[str, ...] = (
    "GM0518", "GM0503", "GM1916", "GM1842", "GM1926", "GM0603", "GM0629", "GM1783", "GM0637")
STUDY_AREA = "Haaglanden"
STUDY_AREA_JZ = "JZ24"

#: Figures published by the HHS report (slides, seed 003): percentages and the share of wijken
#: that clearly differ from expected ("bijna 40%").
PUBLISHED = {"nl_observed": 10.3, "haaglanden_observed": 11.7, "haaglanden_expected": 11.5,
             "haaglanden_share_differing": 0.40}

#: Agreement the re-estimated model should reach with SCP's published expectation (Pearson r).
R_TARGET = 0.99

#: Estimated youths 0-17 = inhabitants * (share 0-14 + YOUTH_SHARE_15_24 * share 15-24): the
#: 15-17 year olds are taken as 3 of the 10 years of the KWB 15-24 band.
YOUTH_SHARE_15_24 = 0.3

#: CBS suppresses wijken with fewer than 10 users; SCP imputed them for fitting.
SUPPRESSED_MAX_USERS = 9
