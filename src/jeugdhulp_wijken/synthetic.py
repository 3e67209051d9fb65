"""The synthetic study: fictional raw data with a known true model.

:func:`generate` writes, under ``out_dir``, the same relative layout and file formats as the
raw-data mirror, so that the data-preparation code runs unchanged on it:

* ``jeugdhulp/Wijkdata_Jeugdhulp_in_de_wijk.ods`` (sheets wijk, gebruik, determinanten,
  bronnen, beschrijving; ``.`` for missing and suppressed values);
* ``cbs_kwb_2017/cbs_wijkbuurtkaart_2017_v1_attributes/wijk_2017.dbf`` (+ ``.cpg``;
  ``-99999999`` for missing values; one water-only wijk ``WK....99`` per some gemeenten);
* ``regions/cbs_83553NED_gebieden_in_nederland_2017/`` ``data.csv``, ``DataProperties.csv``,
  ``RegioS.csv``, ``TableInfos.csv``, ``CategoryGroups.csv`` (cbsodataR layout, padded codes);
* ``geometry/wijk_2016_6.geojson`` (square polygons, EPSG:28992; a few wijken have none) and a
  small ``geometry/hadoks_area_wijken_wijkgeo_file.json`` (EPSG:4326) in the later-file format;
* ``local_factors/WijkEenzaamheid2016.csv`` (Gezondheidsmonitor columns; a few wijken absent
  and a few 2016-only codes, so that the 2016 -> 2017 mapping has something to report) and
  ``local_factors/elan_lumc/df_count_ver_3.csv`` (ELAN-style shares for jeugdzorgregio JZ01 only;
  no planted effect);
* ``SYNTHETIC_TRUTH.json`` (the true model) and ``README_SYNTHETIC.txt``.

True model, per wijk *i* in gemeente *g* and jeugdzorgregio *r*::

    expected_i = intercept + X_i . beta + u_g + u_r                        (published as perc_przv)
    observed_i = expected_i + sum_f gamma_f (z_fi - centre_f) + e_i        (perc_jhzv, clipped to [0, 100])

with u_g ~ N(0, sd_gemeente), u_r ~ N(0, sd_region), e_i ~ N(0, sd_residual). ``X_i`` are the
published (rounded) determinant values *before* masking with ``.``. The local factors z are
independent of the determinants; ``eenzaam`` has a planted effect and
``gezondheid_matig_slecht`` is a null factor (gamma = 0). Observed values of wijken with fewer
than 10 estimated users are suppressed, as CBS does. Everything is fictional: gemeente codes are
GM9001..., wijk codes WK9001.., jeugdzorgregio's JZ01..JZ04 named "Synthetische jeugdzorgregio n",
and no value comes from real data.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from . import files
from .dictionary import DETERMINANTS
from .sources import rel_path
from .wijktable import KWB_MISSING

# The synthetic study writes the same files, in the same layout, as the real raw data.
SCP_ODS = rel_path("scp_wijkdata_jeugdhulp_2017")
KWB_DBF = rel_path("cbs_kwb2017_wijk_dbf")
REGIONS_DIR = str(Path(rel_path("cbs_83553ned_data")).parent)
GEOMETRY_2016 = rel_path("cbs_wijkgrenzen_2016")
GEOMETRY_HADOKS = rel_path("elan_hadoks_wijkgrenzen")
LOCAL_FACTORS_2016 = rel_path("gezondheidsmonitor_2016_wijk")
ELAN_COUNT = rel_path("elan_lumc_df_count")
TRUTH_FILE = "SYNTHETIC_TRUTH.json"
README_FILE = "README_SYNTHETIC.txt"

#: Generator parameters per determinant: mean, sd, lower, upper, share missing ('.'), decimals,
#: loading on a shared latent "disadvantage" factor, true effect in pp per SD.
DETERMINANT_SPECS: dict[str, tuple] = {
    "perc_sbo_g":      (0.6, 0.22, 0.0, 1.4, 0.00, 1, 0.4, 0.30),
    "perc_vso_g":      (0.8, 0.30, 0.0, 3.2, 0.00, 1, 0.4, 0.40),
    "perc_praktijk_g": (0.6, 0.24, 0.0, 1.6, 0.00, 1, 0.4, 0.15),
    "perc_hhmk":       (26.4, 7.2, 1.0, 66.0, 0.00, 3, 0.0, 0.30),
    "perc_jong04":     (32.4, 6.4, 11.5, 66.0, 0.08, 3, 0.0, -0.30),
    "perc_1ouder":     (17.7, 8.3, 3.7, 60.0, 0.18, 3, 0.6, 0.70),
    "perc_tienmam":    (0.4, 0.25, 0.0, 1.5, 0.00, 3, 0.5, 0.10),
    "perc_hhmkhgink":  (11.9, 9.1, 0.8, 75.0, 0.20, 3, -0.6, -0.30),
    "perc_kind_sch5":  (5.8, 1.9, 1.0, 17.0, 0.22, 3, 0.3, 0.80),
    "perc_ouderpsy":   (13.8, 2.7, 2.8, 26.0, 0.03, 3, 0.3, 0.60),
    "perc_hhverd":     (1.6, 0.76, 0.3, 12.0, 0.35, 3, 0.6, 0.20),
    "perc_hhbijs":     (5.2, 4.1, 0.4, 50.0, 0.23, 3, 0.7, 0.50),
    "perc_hhwan":      (2.3, 1.5, 0.3, 13.0, 0.32, 3, 0.6, 0.20),
    "groenedruk":      (35.2, 8.3, 3.7, 83.0, 0.00, 3, 0.0, 0.40),
    "grijzedruk":      (33.2, 14.3, 0.0, 120.0, 0.00, 3, -0.2, -0.10),
    "perc_ao":         (6.4, 3.4, 0.0, 40.0, 0.00, 3, 0.5, 0.30),
    "perc_laagopl":    (28.9, 9.0, 2.1, 72.0, 0.01, 3, 0.6, 0.30),
    "gem_gestink":     (31532.0, 6322.0, 14256.0, 101000.0, 0.01, 0, -0.7, -0.20),
    "polchrplus":      (19.9, 10.4, 0.0, 82.0, 0.00, 3, -0.2, -0.50),
    "perc_nwmig":      (7.6, 9.9, 0.0, 84.0, 0.00, 3, 0.5, -0.60),
    "perc_antsur":     (1.6, 2.8, 0.0, 37.0, 0.00, 3, 0.4, 0.20),
    "perc_1gez":       (77.6, 23.8, 0.0, 100.0, 0.00, 0, -0.4, 0.20),
    "huur_corp":       (21.2, 15.5, 0.0, 97.0, 0.00, 0, 0.6, 0.10),
    "woonwaarde":      (240.0, 89.7, 66.0, 1198.0, 0.04, 0, -0.6, -0.10),
    "afstandhuisarts": (1.6, 1.4, 0.2, 11.9, 0.00, 1, -0.2, -0.20),
}
BINARY_EFFECTS = {"samenw": 0.30, "kleinewijk": -0.30}  # pp for indicator = 1
LOCAL_FACTOR_EFFECTS = {"eenzaam": 0.08, "gezondheid_matig_slecht": 0.0}  # pp per pp
LOCAL_FACTOR_CENTRES = {"eenzaam": 42.0, "gezondheid_matig_slecht": 25.0}
SD_GEMEENTE, SD_REGION, SD_RESIDUAL = 1.0, 0.6, 1.2
TARGET_MEAN = 10.0

# cbsodataR layout of CBS 83553NED: topic groups (title, keys) in column order.
_DIVISIONS = [
    ("Arbeidsmarktregio's", 4), ("Arrondissementen (rechtsgebieden)", 6), ("COROP-gebieden", 8),
    ("COROP-subgebieden", 10), ("COROP-plusgebieden", 12), ("GGD-regio's", 14), ("Jeugdzorgregio’s", 16),
    ("Kamer van Koophandel", 18), ("Landbouwgebieden", 20), ("Landbouwgebieden (groepen)", 22),
    ("Landsdelen", 24), ("NUTS1-gebieden", 26), ("NUTS2-gebieden", 28), ("NUTS3-gebieden", 30),
    ("Provincies", 32), ("Regionale eenheden", 34), ("Ressorten (rechtsgebieden)", 36),
    ("Toeristengebieden", 38), ("Veiligheidsregio's", 40), ("Zorgkantoorregio's", 42)]


def _pad(value: str, width: int) -> str:
    return str(value).ljust(width)


def _write_ods(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """Minimal OpenDocument spreadsheet writer (header row + cells; numbers as float cells).

    Equivalent to ``DataFrame.to_excel(engine="odf")`` for what the readers use (pandas reads it
    with ``read_excel``; the odf and calamine engines give the same frames), but an order of
    magnitude faster than odfpy.
    """
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"')
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns}><office:body><office:spreadsheet>']

    def cell(v) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "<table:table-cell/>"
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            return (f'<table:table-cell office:value-type="float" office:value="{repr(float(v)) if isinstance(v, (float, np.floating)) else int(v)}">'
                    f"<text:p>{v}</text:p></table:table-cell>")
        return f'<table:table-cell office:value-type="string"><text:p>{escape(str(v))}</text:p></table:table-cell>'

    for name, df in sheets.items():
        parts.append(f'<table:table table:name="{escape(name)}">')
        if df.columns.tolist() != [None]:
            parts.append("<table:table-row>" + "".join(cell(str(c)) for c in df.columns) + "</table:table-row>")
        for row in df.itertuples(index=False):
            parts.append("<table:table-row>" + "".join(cell(v) for v in row) + "</table:table-row>")
        parts.append("</table:table>")
    parts.append("</office:spreadsheet></office:body></office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        info = zipfile.ZipInfo("mimetype", date_time=(2017, 1, 1, 0, 0, 0))
        z.writestr(info, "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED)
        for fname, text in (("content.xml", "".join(parts)), ("META-INF/manifest.xml", manifest)):
            z.writestr(zipfile.ZipInfo(fname, date_time=(2017, 1, 1, 0, 0, 0)), text,
                       compress_type=zipfile.ZIP_DEFLATED)


def _dot(values: np.ndarray, missing: np.ndarray) -> list:
    return ["." if m else float(v) for v, m in zip(values, missing)]


def generate(out_dir: str | Path, seed: int = 20170101, n_regions: int = 4, gemeenten_per_region: int = 6,
             mean_wijken_per_gemeente: int = 25) -> dict:
    """Write a synthetic raw-data set under ``out_dir``; return the truth dictionary.

    Deterministic for a given seed. Sizes: ``n_regions`` jeugdzorgregio's of
    ``gemeenten_per_region`` gemeenten with on average ``mean_wijken_per_gemeente`` wijken.
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    n_gem = n_regions * gemeenten_per_region
    gem_codes = [f"GM{9001 + g:04d}" for g in range(n_gem)]
    gem_names = [f"Synthetische gemeente {g + 1:02d}" for g in range(n_gem)]
    gem_region = np.repeat(np.arange(n_regions), gemeenten_per_region)
    n_ggd = max(2, n_regions - 1)
    gem_ggd = (np.arange(n_gem) * n_ggd) // n_gem  # GGD regions cut across jeugdzorgregio borders
    n_wijk_gem = np.clip(rng.poisson(mean_wijken_per_gemeente, n_gem), 4, 60)

    rows = []
    for g in range(n_gem):
        for w in range(int(n_wijk_gem[g])):
            rows.append({"g": g, "wijk_code": f"WK{9001 + g:04d}{w:02d}", "wijk_num": (9001 + g) * 100 + w,
                         "wijk_name": f"Synthetische wijk {g + 1:02d}-{w:02d}"})
    wk = pd.DataFrame(rows)
    n = len(wk)
    g_idx = wk["g"].to_numpy()
    r_idx = gem_region[g_idx]

    # population (KWB) -------------------------------------------------------------
    inh = np.round(np.exp(rng.normal(np.log(2500), 1.2, n)) / 5) * 5
    inh = np.clip(inh, 105, 60000)
    p0014 = np.clip(np.round(rng.normal(16, 3.5, n)), 3, 35)
    p1524 = np.clip(np.round(rng.normal(12, 3.0, n)), 3, 40)
    youths = inh * (p0014 + 0.3 * p1524) / 100

    # determinants -------------------------------------------------------------------
    latent = rng.normal(0, 1, n) + rng.normal(0, 0.5, n_gem)[g_idx]
    X = {}
    missing = {}
    for name, (mean, sd, lo, hi, miss, dec, load, _) in DETERMINANT_SPECS.items():
        e = rng.normal(0, 1, n)
        v = np.clip(mean + sd * (load * latent + np.sqrt(1 - load ** 2) * e), lo, hi)
        X[name] = np.round(v, dec)
        small = inh < np.quantile(inh, 0.5)
        p = np.where(small, 1.6 * miss, 0.4 * miss)
        missing[name] = rng.random(n) < p
    samenw_gem = (rng.random(n_gem) < 0.75).astype(float)
    X["samenw"] = samenw_gem[g_idx]
    X["kleinewijk"] = (inh < 1000).astype(float)
    missing["samenw"] = np.zeros(n, bool)
    missing["kleinewijk"] = np.zeros(n, bool)

    beta = {name: spec[7] / spec[1] for name, spec in DETERMINANT_SPECS.items()}
    beta.update(BINARY_EFFECTS)
    xb = sum(beta[d] * X[d] for d in DETERMINANTS)
    intercept = float(TARGET_MEAN - np.mean(xb))
    u_gem = rng.normal(0, SD_GEMEENTE, n_gem)
    u_reg = rng.normal(0, SD_REGION, n_regions)
    expected = np.clip(intercept + xb + u_gem[g_idx] + u_reg[r_idx], 0, 100)
    expected = np.round(expected, 3)

    # local factors (independent of the determinants) ---------------------------------
    eenzaam = np.clip(np.round(rng.normal(LOCAL_FACTOR_CENTRES["eenzaam"], 6, n)), 15, 75)
    goede_gez = np.clip(np.round(rng.normal(100 - LOCAL_FACTOR_CENTRES["gezondheid_matig_slecht"], 6, n)), 40, 95)
    lf_values = {"eenzaam": eenzaam, "gezondheid_matig_slecht": 100 - goede_gez}
    local = sum(LOCAL_FACTOR_EFFECTS[f] * (lf_values[f] - LOCAL_FACTOR_CENTRES[f]) for f in LOCAL_FACTOR_EFFECTS)
    observed = np.round(np.clip(expected + local + rng.normal(0, SD_RESIDUAL, n), 0, 100), 3)
    suppressed = observed * youths / 100 < 10
    residu = np.round(observed - expected, 3)

    # SCP file -------------------------------------------------------------------------
    gem_num = np.array([9001 + g for g in g_idx])
    sheet_wijk = pd.DataFrame({"wijk": wk["wijk_num"], "wijknaam": wk["wijk_name"], "gemeentecode": gem_num,
                               "gemnaam_2017": [gem_names[g] for g in g_idx]})
    sheet_gebruik = pd.DataFrame({"wijk": wk["wijk_num"], "perc_jhzv": _dot(observed, suppressed),
                                  "perc_przv": expected, "residu": _dot(residu, suppressed)})
    det = {"wijk": wk["wijk_num"]}
    for d in DETERMINANTS:
        vals = X[d]
        det[d] = _dot(vals, missing[d]) if missing[d].any() else vals.astype(float)
    sheet_det = pd.DataFrame(det)
    bronnen = pd.DataFrame({"SYNTHETISCHE GEGEVENS - fictief, afgeleid van geen enkele echte bron": [
        "Dit bestand heeft de vorm van het SCP-wijkbestand Jeugdhulp in de wijk 2017, maar alle waarden zijn gesimuleerd.",
        "Het ware model staat in SYNTHETIC_TRUTH.json.", "Variabelen: zie de gegevenswoordenlijst van het pakket."]})
    beschrijving = pd.DataFrame({"SYNTHETISCHE GEGEVENS (fictief)": [
        f"{n} wijken, {n_gem} gemeenten, {n_regions} jeugdzorgregio's; seed {seed}.",
        "Wijken met minder dan 10 (geschatte) gebruikers zijn onderdrukt ('.').",
        "Ontbrekende determinanten zijn weergegeven als '.'."]})
    _write_ods(out / SCP_ODS, {"beschrijving": beschrijving, "bronnen": bronnen, "wijk": sheet_wijk,
                               "gebruik": sheet_gebruik, "determinanten": sheet_det})

    # KWB dbf --------------------------------------------------------------------------
    kwb = pd.DataFrame({"WK_CODE": wk["wijk_code"], "WK_NAAM": wk["wijk_name"],
                        "GM_CODE": [gem_codes[g] for g in g_idx], "GM_NAAM": [gem_names[g] for g in g_idx],
                        "IND_WBI": 1, "WATER": "NEE", "AANT_INW": inh.astype(np.int64),
                        "P_00_14_JR": p0014.astype(np.int64), "P_15_24_JR": p1524.astype(np.int64),
                        "AANTAL_HH": np.round(inh / 2.2).astype(np.int64),
                        "OPP_TOT": np.full(n, 100, dtype=np.int64)})  # = 1 km2 square polygons
    kwb_missing_age = rng.choice(n, size=max(1, n // 300), replace=False)
    kwb.loc[kwb_missing_age, ["P_00_14_JR", "P_15_24_JR"]] = KWB_MISSING
    water_gem = [g for g in range(n_gem) if g % 5 == 0]
    water = pd.DataFrame({"WK_CODE": [f"WK{9001 + g:04d}99" for g in water_gem], "WK_NAAM": "Groot water",
                          "GM_CODE": [gem_codes[g] for g in water_gem], "GM_NAAM": [gem_names[g] for g in water_gem],
                          "IND_WBI": KWB_MISSING, "WATER": "JA", "AANT_INW": KWB_MISSING, "P_00_14_JR": KWB_MISSING,
                          "P_15_24_JR": KWB_MISSING, "AANTAL_HH": KWB_MISSING, "OPP_TOT": 900})
    kwb = pd.concat([kwb, water], ignore_index=True).sort_values("WK_CODE").reset_index(drop=True)
    write_dbf(kwb, out / KWB_DBF)

    # regions (83553NED) ---------------------------------------------------------------
    _write_regions(out / REGIONS_DIR, gem_codes, gem_names, gem_region, gem_ggd, inh, g_idx)

    # geometry ---------------------------------------------------------------------------
    no_polygon = sorted(wk["wijk_code"].iloc[rng.choice(n, size=max(1, n // 60), replace=False)])
    _write_geometry(out, wk, g_idx, n_gem, set(no_polygon))

    # local factors 2016 ---------------------------------------------------------------------
    absent = sorted(wk["wijk_code"].iloc[rng.choice(n, size=max(1, n // 40), replace=False)])
    lf = pd.DataFrame({
        "wijkcode": wk["wijk_code"], "wijknaam": wk["wijk_name"], "gemnr": gem_num,
        "gemnaam": [gem_names[g] for g in g_idx], "Totale bevolking": inh.astype(int),
        "Bevolking 19 jaar en ouder": np.round(inh * 0.78), "Bevolking 65 jaar en ouder": np.round(inh * 0.18),
        "% eenzaam*": eenzaam, "% ernstig eenzaam*": np.clip(np.round(rng.normal(9, 2.5, n)), 2, 25),
        "% sociaal eenzaam*": np.clip(np.round(rng.normal(45, 5, n)), 20, 70),
        "% emotioneel eenzaam*": np.clip(np.round(rng.normal(30, 4, n)), 10, 50),
        "% 75 jaar en ouder": np.nan,
        "% eenpersoons huishoudens": np.clip(np.round(rng.normal(35, 10, n)), 5, 80),
        "% verweduwd": np.clip(np.round(rng.normal(6, 2, n)), 0, 20),
        "% niet-westers allochtonen": np.clip(np.round(rng.normal(8, 8, n)), 0, 80),
        "% met beperking*": np.clip(np.round(rng.normal(20, 4, n)), 5, 45),
        "% met langdurige aandoening*": np.clip(np.round(rng.normal(45, 5, n)), 20, 70),
        "% met voldoende regie over het eigen leven*": np.clip(np.round(rng.normal(88, 3, n)), 70, 99),
        "% met goede ervaren gezondheid*": goede_gez})
    lf = lf[~lf["wijkcode"].isin(absent)]
    extra_2016 = [f"WK{9001 + g:04d}98" for g in range(0, n_gem, 8)]
    extra = pd.DataFrame({"wijkcode": extra_2016, "wijknaam": "Opgeheven wijk (2016)",
                          "gemnr": [int(c[2:6]) for c in extra_2016],
                          "gemnaam": [gem_names[int(c[2:6]) - 9001] for c in extra_2016],
                          "Totale bevolking": 500, "% eenzaam*": 40.0, "% met goede ervaren gezondheid*": 75.0})
    lf = pd.concat([lf, extra], ignore_index=True)[lf.columns]
    (out / LOCAL_FACTORS_2016).parent.mkdir(parents=True, exist_ok=True)
    lf.to_csv(out / LOCAL_FACTORS_2016, index=False, float_format="%.0f", lineterminator="\n")

    # ELAN/LUMC-style yearly shares (fractions) for the first jeugdzorgregio, years 2016-2018
    elan_rows = wk[r_idx == 0]
    elan = pd.concat([pd.DataFrame({
        "WKC": elan_rows["wijk_code"], "GMN": [gem_names[g] for g in elan_rows["g"]], "Wijknaam": elan_rows["wijk_name"],
        "YEAR": year, "Total_Population": inh[r_idx == 0].astype(int),
        "%_WMO_user": np.round(np.clip(rng.normal(0.055, 0.02, len(elan_rows)), 0, 1), 6),
        "%_Moving_count_above_1": np.round(np.clip(rng.normal(0.02, 0.01, len(elan_rows)), 0, 1), 6),
        "%_Lifeevents_count_above_2": np.round(np.clip(rng.normal(0.12, 0.04, len(elan_rows)), 0, 1), 6)})
        for year in (2016, 2017, 2018)], ignore_index=True)
    (out / ELAN_COUNT).parent.mkdir(parents=True, exist_ok=True)
    elan.to_csv(out / ELAN_COUNT, index=False, lineterminator="\n")

    truth = {
        "fictional": True,
        "description": "True model of the synthetic study (jeugdhulp_wijken.synthetic). Not real data.",
        "seed": seed,
        "n_wijken": int(n), "n_gemeenten": int(n_gem), "n_regions": int(n_regions),
        "model": "observed = intercept + X.beta + u_gemeente + u_region + sum_f gamma_f*(z_f - centre_f) + e; "
                 "perc_przv (expected) = intercept + X.beta + u_gemeente + u_region",
        "intercept": round(intercept, 6),
        "beta": {d: round(float(beta[d]), 8) for d in DETERMINANTS},
        "beta_per_sd": {d: (DETERMINANT_SPECS[d][7] if d in DETERMINANT_SPECS else BINARY_EFFECTS[d])
                        for d in DETERMINANTS},
        "sd_gemeente": SD_GEMEENTE, "sd_region": SD_REGION, "sd_residual": SD_RESIDUAL,
        "local_factor_effects": dict(LOCAL_FACTOR_EFFECTS),
        "local_factor_centres": dict(LOCAL_FACTOR_CENTRES),
        "local_factor_units": "pp of observed use per pp of the factor",
        "null_factors": [f for f, v in LOCAL_FACTOR_EFFECTS.items() if v == 0.0],
        "gemeente_effects": {c: round(float(u), 6) for c, u in zip(gem_codes, u_gem)},
        "region_effects": {f"JZ{r + 1:02d}": round(float(u), 6) for r, u in enumerate(u_reg)},
        "n_suppressed": int(suppressed.sum()),
        "suppression_rule": "perc_jhzv and residu shown as '.' when observed * youths_0_17_est / 100 < 10",
        "missing_determinants": {d: int(missing[d].sum()) for d in DETERMINANTS},
        "wijken_without_polygon": no_polygon,
        "wijken_absent_from_local_factor_file": absent,
        "local_factor_codes_2016_only": extra_2016,
        "youths_method": "youths_0_17_est = AANT_INW * (P_00_14_JR + 0.3 * P_15_24_JR) / 100",
    }
    files.write_json(out / TRUTH_FILE, truth)
    (out / README_FILE).write_text(
        "SYNTHETIC DATA - FICTIONAL. These files imitate the layout and formats of the raw public data of the\n"
        "compendium 'Jeugdhulp in de wijken', but every value is simulated by jeugdhulp_wijken.synthetic.generate\n"
        f"(seed {seed}). No real wijk, gemeente or person is described. Codes GM9xxx / WK9xxxyy do not exist in\n"
        "CBS classifications. The true model is in SYNTHETIC_TRUTH.json.\n", encoding="utf-8")
    return truth


def write_dbf(df: pd.DataFrame, path: str | Path) -> Path:
    """Write an attribute-only dBASE table (.dbf + .cpg) through GDAL's ESRI Shapefile driver."""
    import pyogrio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".dbf", ".cpg", ".shp", ".shx", ".prj"):
        p = path.with_suffix(suffix)
        if p.exists():
            p.unlink()
    pyogrio.write_dataframe(df, path, driver="ESRI Shapefile", encoding="UTF-8")
    with open(path, "r+b") as f:  # fixed "last update" date (bytes 1-3: YY-1900, MM, DD) for byte-stable output
        f.seek(1)
        f.write(bytes([117, 1, 1]))
    return path


def _write_regions(folder: Path, gem_codes, gem_names, gem_region, gem_ggd, inh, g_idx) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pop = pd.Series(inh).groupby(g_idx).sum()
    cols: dict[str, list] = {"ID": list(range(len(gem_codes))), "RegioS": [_pad(c, 10) for c in gem_codes],
                             "Code_1": [_pad(c, 10) for c in gem_codes], "Naam_2": [_pad(n, 50) for n in gem_names],
                             "SorteringNaam_3": [_pad(n, 50) for n in gem_names]}
    for title, k in _DIVISIONS:
        if k == 14:
            codes = [f"GG99{int(x) + 1:02d}" for x in gem_ggd]
            names = [f"Synthetische GGD-regio {int(x) + 1}" for x in gem_ggd]
        elif k == 16:
            codes = [f"JZ{int(r) + 1:02d}" for r in gem_region]
            names = [f"Synthetische jeugdzorgregio {int(r) + 1}" for r in gem_region]
        else:
            codes = [f"SY{k:02d}{int(r) + 1:02d}" for r in gem_region]
            names = [f"Synthetisch gebied {k}-{int(r) + 1}" for r in gem_region]
        cols[f"Code_{k}"] = [_pad(c, 10) for c in codes]
        cols[f"Naam_{k + 1}"] = [_pad(nm, 50) for nm in names]
    cols["Code_44"] = [3] * len(gem_codes)
    cols["Omschrijving_45"] = [_pad("synthetisch", 50)] * len(gem_codes)
    cols["Code_46"] = [3] * len(gem_codes)
    cols["Omschrijving_47"] = [_pad("synthetisch", 50)] * len(gem_codes)
    cols["Inwonertal_48"] = [int(pop.get(i, 0)) for i in range(len(gem_codes))]
    cols["Omgevingsadressendichtheid_49"] = [1000] * len(gem_codes)
    pd.DataFrame(cols).to_csv(folder / "data.csv", index=False, quoting=1, lineterminator="\n")
    props = [{"ID": 0, "ParentID": "", "Type": "Dimension", "Key": "RegioS", "Title": "Regio's"},
             {"ID": 1, "ParentID": "", "Type": "TopicGroup", "Key": "", "Title": "Codes en namen van gemeenten"},
             {"ID": 2, "ParentID": 1, "Type": "Topic", "Key": "Code_1", "Title": "Code"},
             {"ID": 3, "ParentID": 1, "Type": "Topic", "Key": "Naam_2", "Title": "Naam"},
             {"ID": 4, "ParentID": 1, "Type": "Topic", "Key": "SorteringNaam_3", "Title": "Sortering naam"},
             {"ID": 5, "ParentID": "", "Type": "TopicGroup", "Key": "", "Title": "Lokaliseringen van gemeenten"}]
    nid = 6
    for title, k in _DIVISIONS:
        props.append({"ID": nid, "ParentID": 5, "Type": "TopicGroup", "Key": "", "Title": title})
        props.append({"ID": nid + 1, "ParentID": nid, "Type": "Topic", "Key": f"Code_{k}", "Title": "Code"})
        props.append({"ID": nid + 2, "ParentID": nid, "Type": "Topic", "Key": f"Naam_{k + 1}", "Title": "Naam"})
        nid += 3
    for key in ("Code_44", "Omschrijving_45", "Code_46", "Omschrijving_47", "Inwonertal_48",
                "Omgevingsadressendichtheid_49"):
        props.append({"ID": nid, "ParentID": "", "Type": "Topic", "Key": key, "Title": key.split("_")[0]})
        nid += 1
    dp = pd.DataFrame(props)
    dp.insert(0, "odata.type", "Cbs.OData.Topic")
    for c in ("Description", "Datatype", "Unit", "Decimals", "Default"):
        dp[c] = ""
    dp.to_csv(folder / "DataProperties.csv", index=False, lineterminator="\n")
    pd.DataFrame({"Key": [_pad(c, 10) for c in gem_codes], "Title": gem_names, "Description": "",
                  "CategoryGroupID": 1}).to_csv(folder / "RegioS.csv", index=False, lineterminator="\n")
    pd.DataFrame({"Title": ["Gebieden in Nederland (SYNTHETISCH, fictief)"], "Summary": ["Synthetische gegevens"],
                  "Modified": ["2017-01-01T00:00:00"]}).to_csv(folder / "TableInfos.csv", index=False, lineterminator="\n")
    pd.DataFrame({"ID": [1], "DimensionKey": ["RegioS"], "Title": ["Gemeenten (synthetisch)"],
                  "Description": [""], "ParentID": [""]}).to_csv(folder / "CategoryGroups.csv", index=False,
                                                                 lineterminator="\n")


def _write_geometry(out: Path, wk: pd.DataFrame, g_idx, n_gem: int, no_polygon: set) -> None:
    """Square wijken (1 km) on a grid; each gemeente is a contiguous block of rows."""
    import geopandas as gpd
    from shapely.geometry import box

    size, per_row = 1000.0, 8
    x0, y0 = 100000.0, 400000.0
    geoms, codes, names, gmc, gmn = [], [], [], [], []
    offset_rows = 0
    for g in range(n_gem):
        sub = wk[g_idx == g]
        block_x = (g % 6) * (per_row + 1) * size
        block_y = (g // 6) * 10 * size
        for j, rec in enumerate(sub.itertuples(index=False)):
            if rec.wijk_code in no_polygon:
                continue
            cx = x0 + block_x + (j % per_row) * size
            cy = y0 + block_y + (j // per_row) * size
            geoms.append(box(cx, cy, cx + size, cy + size))
            codes.append(rec.wijk_code)
            names.append(rec.wijk_name)
            gmc.append(f"GM{9001 + g:04d}")
            gmn.append(f"Synthetische gemeente {g + 1:02d}")
        offset_rows += 1
    gdf = gpd.GeoDataFrame({"WKC": codes, "WKN": names, "GMC": gmc, "GMN": gmn}, geometry=geoms, crs="EPSG:28992")
    path = out / GEOMETRY_2016
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    gdf.to_file(path, driver="GeoJSON")
    later = gdf[gdf["GMC"] == gdf["GMC"].iloc[0]].rename(columns={"WKC": "WK_CODE", "WKN": "WK_NAAM"})
    later = later[["WK_NAAM", "WK_CODE", "geometry"]].to_crs("EPSG:4326")
    hpath = out / GEOMETRY_HADOKS
    if hpath.exists():
        hpath.unlink()
    later.to_file(hpath, driver="GeoJSON")
