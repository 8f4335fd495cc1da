"""The command line: ``undervisning-analys``.

Two subcommands, with Swedish help and messages::

    undervisning-analys validera MAPP
    undervisning-analys rapporter MAPP --ut UTMAPP [--skola KOD ...]

``validera`` reads a folder laid out like ``data/sample`` and prints what was
read, kept and refused (``Dataset.overview()`` and the provenance of every
file). ``rapporter`` writes the municipality report, one report per school
and an ``index.html`` that links them, with a progress bar, and beside them
``data/`` (every table the reports show, as CSV and Parquet) and
``proveniens.json`` (inputs with sha256, model specifications, seed, floors,
versions); see :mod:`undervisning_analys.report.export`.

Exit codes: 0 done; 1 (``validera`` only) the folder was read, but some files
were not read (each named with the reason) or a check warns that the pieces do
not fit (e.g. results that share no school with the register); 2 the input
could not be used (a Swedish message on stderr that names the file, row and
column, no traceback) or the command line was wrong; 130 interrupted. A script
can test ``validera``'s status: ``undervisning-analys validera MAPP || …``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

PROG = "undervisning-analys"

# argparse writes a few messages in English; these are their Swedish forms.
_ARGPARSE_SV: list[tuple[str, str]] = [
    (r"the following arguments are required: (.*)", r"följande argument måste anges: \1"),
    (r"unrecognized arguments: (.*)", r"okända argument: \1"),
    (r"argument (\S+): invalid choice: (.*) \(choose from (.*)\)",
     r"argumentet \1: ogiltigt val: \2 (välj bland \3)"),
    (r"invalid choice: (.*) \(choose from (.*)\)", r"ogiltigt val: \1 (välj bland \2)"),
    (r"argument (\S+): expected one argument", r"argumentet \1: ett värde måste anges"),
    (r"argument (\S+): expected at least one argument",
     r"argumentet \1: minst ett värde måste anges"),
    (r"argument (\S+): invalid (\w+) value: (.*)", r"argumentet \1: ogiltigt värde: \3"),
    (r"ambiguous option: (.*)", r"tvetydig flagga: \1"),
]


def _sv_argparse(message: str) -> str:
    for pattern, repl in _ARGPARSE_SV:
        if re.fullmatch(pattern, message):
            return re.sub(pattern, repl, message)
    return message


class _SvHelpFormatter(argparse.RawDescriptionHelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):  # type: ignore[no-untyped-def]
        return super().add_usage(usage, actions, groups,
                                 "Användning: " if prefix is None else prefix)


class _Parser(argparse.ArgumentParser):
    """argparse with Swedish headings, help flag and error messages."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("formatter_class", _SvHelpFormatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = "argument"
        self._optionals.title = "flaggor"
        self.add_argument("-h", "--hjälp", "--help", action="help",
                          help="visa den här hjälptexten och avsluta")

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: fel: {_sv_argparse(message)}\n"
                     f"Skriv `{self.prog} --hjälp` för hjälp.\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (Swedish help)."""
    from . import __version__

    parser = _Parser(
        prog=PROG,
        description=(
            "Analys av observerad undervisningskvalitet och elevresultat över tid.\n\n"
            "Läser en mapp med kommunens filer (skolregister, lektionsobservationer,\n"
            "observationsprotokoll och Skolverkets exporter, ordnade som i data/sample)\n"
            "och skriver rapporter på svenska till kvalitetsdialogerna."),
        epilog=(
            "Exempel:\n"
            f"  {PROG} validera data/sample\n"
            f"  {PROG} rapporter data/sample --ut rapporter\n"
            f"  {PROG} rapporter data/sample --ut rapporter --skola 99066217\n\n"
            "Inga värden från färre än 10 elever, 3 lärare eller 5 observerade lektioner\n"
            "visas (de visas som ..), och ingen enskild lärare kan identifieras."))
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="visa programmets version och avsluta")
    sub = parser.add_subparsers(dest="kommando", metavar="KOMMANDO", title="kommandon",
                                parser_class=_Parser)
    sub.required = True

    v = sub.add_parser(
        "validera", help="läs och kontrollera en mapp och visa vad som lästes in",
        description=("Läser alla filer i MAPP, kontrollerar dem och visar vad som lästes,\n"
                     "vad som behölls och vad som inte behölls (och varför), med\n"
                     "kontrollsumma (sha256) för varje fil. MAPP kan också vara en enda\n"
                     "observationsexport: den läses med --protokoll och --kolumner."),
        epilog=("Exempel:\n"
                f"  {PROG} validera data/sample\n"
                f"  {PROG} validera export.csv --protokoll protokoll.yaml "
                "--kolumner kolumner.yaml\n\n"
                "Namn eller e-postadresser på lärare och observatörer ersätts med\n"
                "pseudonymer; det kräver en hemlig nyckel i miljövariabeln\n"
                "UA_PSEUDONYM_KEY."))
    v.add_argument("mapp", metavar="MAPP",
                   help="mappen med kommunens filer, eller en observationsexport")
    v.add_argument("--protokoll", metavar="YAML", default=None,
                   help="observationsprotokollet (annars mappens *.yaml eller standardprotokollet)")
    v.add_argument("--kolumner", metavar="YAML", default=None,
                   help="kolumnfilen för observationsexporten (annars mappens kolumner*.yaml)")

    r = sub.add_parser(
        "rapporter", help="skriv rapporter för alla skolor och för kommunen",
        description=("Skriver en rapport per skola, en kommunrapport och en index.html\n"
                     "som länkar till dem, till UTMAPP. Modellerna skattas en gång för\n"
                     "hela kommunen och delas av alla rapporter. Bredvid rapporterna\n"
                     "skrivs tabellerna bakom siffrorna (UTMAPP/data, CSV och Parquet)\n"
                     "och proveniens.json (indata, modeller, versioner)."))
    r.add_argument("mapp", metavar="MAPP", help="mappen med kommunens filer")
    r.add_argument("--ut", metavar="UTMAPP", required=True,
                   help="mappen som rapporterna skrivs till (skapas om den saknas)")
    r.add_argument("--skola", metavar="KOD", action="append", default=None,
                   help="skriv bara rapporten för skolenheten KOD (kan anges flera gånger)")
    r.add_argument("--processer", metavar="N", type=int, default=None,
                   help="antal parallella processer för skolrapporterna "
                        "(standard: antalet processorkärnor, högst 4)")
    r.add_argument("--tyst", action="store_true", help="visa ingen förloppsindikator")
    r.add_argument("--matt", metavar="MÅTT", action="append", default=None,
                   help="resultatmått att visa, t.ex. merit_17 eller "
                        "grade6_pass_all_subjects_pct (kan anges flera gånger; standard: "
                        "meritvärde, godkänt i alla ämnen, behörighet och åk 6 där de finns)")
    _add_mall_parser(sub)
    return parser


def _add_mall_parser(sub) -> None:  # type: ignore[no-untyped-def]
    """``mall MAPP``: plan workbooks, the observation form and the entry sheet (issue #15)."""
    m = sub.add_parser(
        "mall", help="skriv mallar: planer per skola och för huvudmannen, observationsformulär",
        description=("Skriver, till UTMAPP, en förifylld plan (Excel) per skola och en för\n"
                     "huvudmannen med dagens värden från underlaget i MAPP, rullistor och\n"
                     "kontroll av varje cell, observationsprotokollet som utskrivbart\n"
                     "A4-formulär (HTML) och ett inmatningsblad (Excel) för skolor utan\n"
                     "formulärverktyg. Ifyllda planer och inmatningsbladet läggs i MAPP och\n"
                     "läses in av validera och rapporter."))
    m.add_argument("mapp", metavar="MAPP", help="mappen med kommunens filer")
    m.add_argument("--ut", metavar="UTMAPP", default="mallar",
                   help="mappen som mallarna skrivs till (standard: mallar)")
    m.add_argument("--skola", metavar="KOD", action="append", default=None,
                   help="skriv bara planen för skolenheten KOD (kan anges flera gånger)")


def _cmd_mall(args: argparse.Namespace) -> int:
    from .io.local_measures import write_template as write_local_template
    from .plans.mall import write_templates
    from .sample import load_folder

    folder = Path(args.mapp)
    ds = load_folder(folder)
    if args.skola:
        unknown = sorted(set(args.skola) - set(ds.schools["school_id"].astype(str)))
        if unknown:
            raise _usage_error(f"skolenheten {', '.join(unknown)} finns inte i skolregistret")
    out = Path(args.ut)
    print(f"Skriver mallar från {folder} …", file=sys.stderr)
    written = write_templates(ds, out, schools=args.skola)
    written.append(write_local_template(out, ds.schools))
    plans = [p for p in written if p.name.startswith("plan_")]
    print(f"Klart: {len(plans)} planer (en per skola och en för huvudmannen), "
          "observationsformuläret, inmatningsbladet och mallen för egna mått "
          "(egna_matt.xlsx: närvaro, frånvaro, kränkningar, egna enkäter).")
    print(f"Mallarna finns i {out.resolve()}")
    print(f"Fyll i planerna och lägg dem i {folder}; kontrollera dem med "
          f"`{PROG} validera {folder}`.")
    return 0


def _print_validation(ds, folder: Path) -> int:  # type: ignore[no-untyped-def]
    """What was read, kept and not kept, file by file (Swedish); returns the exit status."""
    from .io.folder import NOT_READ

    print(f"Mappen {folder} lästes in.\n")
    print(ds.overview())
    cats = getattr(ds, "observation_categories", None)
    if cats is not None and len(cats):
        from .io.observations import summarise_categories

        _print_categories(summarise_categories(cats, ds.instrument))
    prov = ds.provenance
    not_read = [p for p in prov if p.loader == NOT_READ]
    checks = list(getattr(ds, "checks", ()))
    warnings = [c for c in checks if c.startswith("Varning")]
    if not_read:
        print(f"\nFiler som inte lästes in ({len(not_read)}):")
        for p in not_read:
            print(f"  {p.path}: {'; '.join(p.notes)}")
    shown = [c for c in checks if not c.startswith("Inte inläst")]
    if shown:
        print("\nKontroller av att delarna hör ihop:")
        for c in shown:
            print(f"  – {c}")
    status = 1 if not_read or warnings else 0
    if not prov:
        return status
    print("\nRader som inte behölls:")
    dropped = [(p.path, reason, n) for p in prov for reason, n in p.dropped.items() if n]
    if dropped:
        for path, reason, n in dropped:
            print(f"  {path}: {n} ({reason})")
    else:
        print("  Inga: allt som lästes behölls.")
    noted = [p for p in prov if p.notes and p.loader != NOT_READ]
    if noted:
        print("\nAnteckningar från inläsningen:")
        for p in noted:
            print(f"  {p.path}:")
            for note in p.notes:
                print(f"    – {note}")
    width = max(len(p.path) for p in prov)
    print("\nKontrollsummor (sha256), för att kunna spåra siffrorna till exakt dessa filer:")
    for p in prov:
        print(f"  {p.path:<{width}}  {p.sha256}")
    if status == 0:
        print("\nInga fel hittades. Mappen kan användas för rapporter:")
    else:
        parts = []
        if not_read:
            parts.append(f"{len(not_read)} fil{'er' if len(not_read) != 1 else ''} lästes inte "
                         f"in")
        if warnings:
            parts.append(f"{len(warnings)} varning{'ar' if len(warnings) != 1 else ''}")
        print(f"\nMappen lästes, men {' och '.join(parts)} (se ovan; slutstatus 1). Rätta "
              f"eller ta bort filerna och kör {PROG} validera {folder} igen. Rapporterna kan "
              f"skrivas med det som lästes:")
    print(f"  {PROG} rapporter {folder} --ut rapporter")
    return status


def _cmd_validera(args: argparse.Namespace) -> int:
    from .io.folder import load_folder

    folder = Path(args.mapp)
    if folder.is_file():
        return _validate_export(folder, args.protokoll, args.kolumner)
    ds = load_folder(folder, instrument=args.protokoll, columns=args.kolumner)
    return _print_validation(ds, folder)


def _validate_export(path: Path, protocol: str | None, columns: str | None) -> int:
    """One observation export read with a protocol and a column file: what was read."""
    from .instruments import load_instrument
    from .io.observations import read_observation_export, summarise_categories

    inst = load_instrument(protocol)
    export = read_observation_export(path, inst, columns=columns)
    o, cats = export.observations, export.categories
    prov = o.attrs["provenance"]
    forms = o.drop_duplicates(["observation_id", "observer_id"])
    paired = int((forms.groupby("observation_id").size() > 1).sum())
    print(f"Observationsexporten {path} lästes in med protokollet {inst.name} "
          f"(version {inst.version}).\n")
    print(f"  Rader med formulär: {prov.rows_read} lästa, {len(forms)} behållna")
    for reason, n in prov.dropped.items():
        print(f"    – {n} ej behållna: {reason}")
    print(f"  Lektioner: {o['observation_id'].nunique()} ({paired} med fler än en "
          f"observatör: parobservationer), {o['teacher_id'].nunique()} lärare, "
          f"{o['observer_id'].nunique()} observatörer, {o['school_id'].nunique()} skolor")
    print(f"  Bedömda påståenden (ingår i indexet): {len(inst.items)}, "
          f"{int(o['score'].notna().sum())} poäng, {int(o['score'].isna().sum())} obesvarade")
    if len(cats):
        print(f"  Kategoriska påståenden (ingår inte i indexet): {cats['item_id'].nunique()}, "
              f"{int(cats['category'].notna().sum())} svar, "
              f"{int(cats['category'].isna().sum())} obesvarade")
        _print_categories(summarise_categories(cats, inst))
    if prov.notes:
        print("\nAnteckningar från inläsningen:")
        for note in prov.notes:
            print(f"  – {note}")
    print(f"\nKontrollsumma (sha256): {prov.sha256}")
    print(f"\nInga fel hittades. Lägg exporten (med ett namn som börjar med observation), "
          f"protokollet och kolumnfilen i kommunens mapp och kör {PROG} validera MAPP.")
    return 0


def _print_categories(summary) -> None:  # type: ignore[no-untyped-def]
    """How each categorical item was answered (all schools together), one line per item."""
    print("\nSå besvarades de kategoriska påståendena (andel av de besvarade):")
    for iid, g in summary.groupby("item_id", sort=False):
        shares = ", ".join(
            f"{lab} {_percent(sh)}" for lab, sh in zip(g["label"], g["share"], strict=True))
        print(f"  {iid} {g['text'].iloc[0]}: {shares} ({int(g['n_answered'].iloc[0])} svar)")


def _percent(share: float) -> str:
    from ._format import number

    return "–" if share != share else f"{number(100 * share, 0)} %"


def _cmd_rapporter(args: argparse.Namespace) -> int:
    from .io.folder import load_folder
    from .report import write_all

    folder = Path(args.mapp)
    out = Path(args.ut)
    if args.processer is not None and args.processer < 1:
        raise _usage_error("--processer ska vara 1 eller större")
    quiet = bool(args.tyst)
    if not quiet:
        print(f"Läser {folder} …", file=sys.stderr)
    ds = load_folder(folder)
    measures = None
    if args.matt:
        from . import schema

        have = set(ds.results.loc[ds.results["level"].astype(str) == "school",
                                  "measure"].astype(str))
        bad = [m for m in args.matt if m not in have]
        if bad:
            known = ", ".join(sorted(have)) or "(inga)"
            raise _usage_error(
                f"--matt {bad[0]}: måttet finns inte bland skolornas resultat i {folder}. "
                f"Mått som finns: {known}. Exempel: --matt merit_17"
                + ("" if schema.is_known_measure(bad[0]) else
                   " (måttet finns inte heller i paketets vokabulär)"))
        measures = list(dict.fromkeys(args.matt))
    written = write_all(ds, out, schools=args.skola, processes=args.processer,
                        progress=not quiet, measures=measures)
    for key, note in written.notes.items():
        print(f"Obs: en del kunde inte beräknas ({key}): {note}", file=sys.stderr)
    if written.warnings:
        print(f"Obs: modellerna gav {len(written.warnings)} anmärkning"
              f"{'ar' if len(written.warnings) != 1 else ''}; de står under "
              "”Om underlaget” i rapporterna.", file=sys.stderr)
    n_school = len(written.schools)
    print(f"Klart: {n_school} skolrapport{'er' if n_school != 1 else ''}, kommunrapporten och "
          f"en innehållsförteckning.")
    print(f"Rapporterna finns i {out.resolve()}")
    if written.exports:
        print(f"Tabellerna bakom siffrorna ({len(written.exports)} st, CSV och Parquet) finns "
              f"i {(out / 'data').resolve()}")
    if written.provenance is not None:
        print(f"Proveniens (indata, modeller, versioner): {written.provenance.resolve()}")
    print(f"Öppna {written.index.resolve()} i en webbläsare.")
    return 0


class _UsageError(Exception):
    pass


def _usage_error(message: str) -> _UsageError:
    return _UsageError(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``undervisning-analys``; returns the exit code."""
    from .errors import UAError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.kommando == "validera":
            return _cmd_validera(args)
        if args.kommando == "mall":
            return _cmd_mall(args)
        return _cmd_rapporter(args)
    except UAError as exc:
        print(f"{PROG}: fel: {exc}", file=sys.stderr)
        return 2
    except _UsageError as exc:
        print(f"{PROG}: fel: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"{PROG}: fel: filen eller mappen kunde inte läsas eller skrivas{where}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: avbrutet.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
