"""The command line: ``facture-gateway`` (also ``python -m gateway``).

Scripts read its standard output: the result alone (a report, ``--json``, a document);
logs go to standard error, and only with ``-v`` for the commands that answer and exit.
A file that cannot be read is a one-line French error and exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.config import ROOT, Config, load_config
from gateway.errors import DomainError
from gateway.logs import configure_logging
from gateway.renderers import PROFILES
from gateway.supervisor import PartFailed
from gateway.validation import of_invoice, totals_findings

DEMO_SELLER = {
    "name": "Librairie des Quais",
    "siret": "81234567600017",
    "email": "compta@librairie-des-quais.example",
}
#: The guide's two examples, routed to Chorus Pro, and a public library (of the Chorus Pro
#: sandbox's directory) whose invoices go through Dilifac.
DEMO_CUSTOMERS = [
    ("22760540900019", "DEPARTEMENT DE LA SEINE MARITIME", "chorus"),
    ("22100005200011", "DEPARTEMENT DE L'AUBE", "chorus"),
    ("25450102600028", "MEDIATHEQUE INTERCOMMUNALE DES DEUX RIVES", "dilifac"),
    ("19450042700019", "LYCEE POLYVALENT JULES VERNE", "manual_pdf"),
    # Not a public structure: a company, found with its approved platform in the reform's
    # directory (the PA sandbox's), so its invoices go to its PA; the directories decide.
    ("73282932000074", "ECOLE PRIVEE SAINTE-ANNE", "auto"),
]
#: The invoice the welcome message suggests sending (package data).
SAMPLE = Path(__file__).parent / "demo" / "invoice-seine-maritime.json"
#: What the Chorus Pro sandbox writes under var/ when it starts (conf/gateway.toml reads it).
SANDBOX_CREDENTIALS = "sandbox-credentials.json"
#: Its keys that make the demo member's Chorus Pro settings.
SANDBOX_SETTINGS = ("client_id", "client_secret", "login", "password", "token_url", "api_url")


@dataclass(frozen=True)
class Sandbox:
    """A local stand-in for a platform (contrib/), started by ``run``: the file of
    credentials it writes under var/ become the demo member's settings of ``outlet``."""

    label: str
    name: str
    module: str
    port_variable: str
    default_port: str
    credentials: str
    outlet: str
    #: The credentials file (JSON) → the demo member's settings for ``outlet``.
    settings: Callable[[dict], dict]

    def port(self) -> str:
        return os.environ.get(self.port_variable, self.default_port)


SANDBOXES = (
    Sandbox(
        "Le bac à sable Chorus Pro",
        "chorus",
        "contrib.chorus_sandbox",
        "SANDBOX_PORT",
        "8081",
        SANDBOX_CREDENTIALS,
        "chorus",
        lambda written: {
            "environment": "sandbox",
            **{key: written.get(key) for key in SANDBOX_SETTINGS},
        },
    ),
    Sandbox(
        "Le bac à sable Dilifac",
        "dilifac",
        "contrib.dilifac_sandbox",
        "DILIFAC_SANDBOX_PORT",
        "8082",
        "dilifac-sandbox-credentials.json",
        "dilifac",
        lambda written: {key: written.get(key) for key in ("url", "login", "password")},
    ),
    Sandbox(
        "Le bac à sable PA (plateforme agréée)",
        "pa",
        "contrib.pa_sandbox",
        "PA_SANDBOX_PORT",
        "8083",
        "pa-sandbox-credentials.json",
        "pa",
        lambda written: {
            key: written.get(key)
            for key in ("flow_url", "directory_url", "token_url", "client_id", "client_secret")
        },
    ),
)
CHORUS_SANDBOX, DILIFAC_SANDBOX, PA_SANDBOX = SANDBOXES


#: Log level of the commands that answer and exit, by the number of ``-v`` given: silent
#: without (what went wrong is in their answer).
VERBOSITY = ("CRITICAL", "INFO", "DEBUG")


class CliError(Exception):
    """A command that cannot go on: one French line on standard error, exit status 2."""


def _config(args, *, answers: bool = False) -> Config:
    """Load the configuration; ``answers``: a command whose standard output is its result,
    which logs only when asked (``-v``)."""
    config = load_config(args.config)
    level = VERBOSITY[min(args.verbose, 2)] if answers else config.log_level
    configure_logging(config.log_format, level)
    config.ensure_secret_key()
    return config


def _services(config: Config):
    from gateway.services import build_services

    # Heavy-document slots keep web workers free for other members; a command has none.
    config.heavy_documents = 0
    return build_services(config)


def cmd_migrate(args) -> int:
    config = _config(args)
    from gateway.store import Store

    Store(config.database_url).migrate()
    config.archive.ensure_signing_key()
    print(f"Base de données à jour : {redact_url(config.database_url)}")
    return 0


def cmd_rotate_secrets(args) -> int:
    """Re-seal every member's settings and webhook secrets with the first secret key, so
    that the keys after it may be removed; names (never shows) the members whose settings
    no key opens."""
    config = _config(args)
    from gateway.secretbox import SecretBox, SecretBoxError
    from gateway.store import Store

    if not config.secret_key:
        raise CliError("aucune clé secrète configurée ([security] secret_key).")
    box = SecretBox(config.secret_key)
    store = Store(config.database_url)
    resealed, unreadable = 0, []
    for member in store.list_members():
        try:
            # Webhook secrets are sealed with the same key: they follow their member's.
            hooks = {
                hook["id"]: box.reseal(hook["secret_encrypted"])
                for hook in store.list_webhooks(member["id"])
            }
            sealed = member["settings_encrypted"] and box.reseal(member["settings_encrypted"])
        except SecretBoxError:
            unreadable.append(member["id"])
            continue
        for hook_id, secret in hooks.items():
            store.update_webhook(hook_id, secret_encrypted=secret)
        if sealed:
            store.update_member(member["id"], settings_encrypted=sealed)
            resealed += 1
    store.dispose()
    print(f"Réglages de {resealed} membre(s) chiffrés à nouveau avec la première clé.")
    if unreadable:
        print(
            "Aucune des clés configurées n'ouvre les réglages de : " + ", ".join(unreadable),
            file=sys.stderr,
        )
        return 1
    return 0


def redact_url(url: str) -> str:
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def _valid_key(services, path: Path) -> bool:
    from gateway.auth import authenticate

    if not path.exists():
        return False
    key = path.read_text().strip()
    return authenticate(services.store, f"Bearer {key}", services.clock()) is not None


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value + "\n")


def sandbox_settings(config: Config, sandbox: Sandbox = CHORUS_SANDBOX) -> dict | None:
    """A sandbox's demo credentials as its outlet's settings, or None when it never ran."""
    try:
        written = json.loads((config.var_dir / sandbox.credentials).read_text())
    except (OSError, ValueError):
        return None
    return sandbox.settings(written)


def _give_demo_settings(services, outlet: str, settings: dict) -> None:
    """Store a sandbox's credentials in the demo member's settings (sealed), when changed:
    a new sandbox state file comes with new credentials, another port with other URLs."""
    member_id = _member_for_cli(services, None)
    if services.members.settings(member_id).get(outlet) != settings:
        services.members.update(member_id, {"settings": {outlet: settings}}, by_admin=True)


def ensure_demo(config: Config) -> str:
    """Create (once) an admin key, the demo member, its key, password (for the web pages)
    and customers; return the demo member's id.

    When a sandbox (Chorus Pro, Dilifac) has written its credentials, they become the demo
    member's settings of that outlet.
    """
    services = _services(config)
    admin_file = config.var_dir / "admin-api-key"
    demo_file = config.var_dir / "demo-api-key"
    if not _valid_key(services, admin_file):
        admin = services.members.create_key(None, "admin", label="administrateur (démo)")
        _write_secret(admin_file, admin["api_key"])
    if not _valid_key(services, demo_file):
        member, key = services.members.create(**DEMO_SELLER)
        _write_secret(demo_file, key)
        for siret, name, channel in DEMO_CUSTOMERS:
            services.customers.put(
                member["id"], siret, {"name": name, "channel": channel, "copies": []}
            )
    for sandbox in SANDBOXES:
        settings = sandbox_settings(config, sandbox)
        # a sandbox may come before its outlet (the PA one did): no settings for a missing outlet
        if settings is not None and sandbox.outlet in services.registry.outlets:
            _give_demo_settings(services, sandbox.outlet, settings)
    member_id = _member_for_cli(services, None)
    password_file = config.var_dir / "demo-password"
    if not password_file.exists() or not services.members.get(member_id)["password_set"]:
        password = secrets.token_urlsafe(12)
        services.members.set_password(member_id, password)
        _write_secret(password_file, password)
    services.store.dispose()
    return member_id


def cmd_demo(args) -> int:
    config = _config(args)
    from gateway.store import Store

    Store(config.database_url).migrate()
    config.archive.ensure_signing_key()
    print_welcome(config, ensure_demo(config), os.environ.get("PORT", "8080"))
    return 0


def print_welcome(config: Config, member_id: str, port: str, sandboxes: bool = False) -> None:
    sample = SAMPLE.relative_to(Path.cwd()) if SAMPLE.is_relative_to(Path.cwd()) else SAMPLE
    sandbox = ""
    if sandboxes:
        chorus, dilifac, pa = CHORUS_SANDBOX.port(), DILIFAC_SANDBOX.port(), PA_SANDBOX.port()
        sandbox = f"""
Bac à sable Chorus Pro : http://127.0.0.1:{chorus} (jouez-y le destinataire, voir le README)
  identifiants : {config.var_dir / CHORUS_SANDBOX.credentials}
Bac à sable Dilifac : http://127.0.0.1:{dilifac}/dilifac?wsdl (factures de la médiathèque
  {DEMO_CUSTOMERS[2][0]} ; les statuts avancent seuls, voir contrib/dilifac_sandbox/README.md)
  identifiants : {config.var_dir / DILIFAC_SANDBOX.credentials}
Bac à sable PA (réforme 2026) : http://127.0.0.1:{pa}/control (factures de l'école
  {DEMO_CUSTOMERS[4][0]}, factures de fournisseurs à recevoir : voir le README)
  identifiants : {config.var_dir / PA_SANDBOX.credentials}
"""
    print(
        f"""
Membre de démonstration : {DEMO_SELLER["name"]} (SIRET {DEMO_SELLER["siret"]})
  identifiant : {member_id}
  clé d'API : {config.var_dir / "demo-api-key"}
  clé administrateur : {config.var_dir / "admin-api-key"}
{sandbox}
Tableau de bord : http://127.0.0.1:{port}/app/
  librairie : SIRET {DEMO_SELLER["siret"]}, mot de passe dans {config.var_dir / "demo-password"}
  (ou « Avec une clé d'API » et la clé ci-dessus)
  association : « Avec une clé d'API » et la clé administrateur

Essayez :
  curl -s -X POST http://127.0.0.1:{port}/v1/invoices \\
       -H "Authorization: Bearer $(cat {config.var_dir / "demo-api-key"})" \\
       -H "Content-Type: application/json" -H "Idempotency-Key: essai-1" \\
       --data-binary @{sample}
""",
        flush=True,
    )


def cmd_worker(args) -> int:
    config = _config(args)
    from gateway.worker import Worker

    services = _services(config)
    worker = Worker(
        store=services.store,
        registry=services.registry,
        config=config,
        secretbox=services.secretbox,
        clock=services.clock,
    )
    if args.once:
        print(f"{worker.run_once()} facture(s) traitée(s)")
        return 0
    from gateway.supervisor import stop_on_signals

    stop = threading.Event()
    stop_on_signals(stop)
    worker.run_forever(stop)
    return 0


def _gunicorn_command(config_path: str | None) -> list[str]:
    if config_path:  # gateway.wsgi reads it in gunicorn's master (preloaded)
        os.environ["GATEWAY_CONFIG"] = str(Path(config_path).resolve())
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "conf" / "gunicorn.conf.py"),
        "gateway.wsgi:app",
    ]


def cmd_serve(args) -> int:
    _config(args)  # fail early on a broken configuration, and create the secret key
    os.execv(sys.executable, _gunicorn_command(args.config))
    return 0  # not reached


def cmd_run(args) -> int:
    """Migrate, start the sandboxes, create the demo member, then run the worker and the API
    until Ctrl-C or SIGTERM, restarting a child that dies (gateway.supervisor)."""
    config = _config(args)
    from gateway.store import Store
    from gateway.supervisor import Part, Supervisor, stop_on_signals

    Store(config.database_url).migrate()
    config.archive.ensure_signing_key()
    port = os.environ.get("PORT", "8080")
    stop = threading.Event()
    stop_on_signals(stop)
    config_option = ["--config", args.config] if args.config else []
    worker = [sys.executable, "-m", "gateway", *config_option, "worker"]
    sandboxes = [
        Part(sandbox.label, lambda sandbox=sandbox: start_sandbox(config, sandbox.port(), sandbox))
        for sandbox in SANDBOXES
    ]
    parts = [
        *sandboxes,
        Part("Le processus d'envoi", lambda: subprocess.Popen(worker)),
        Part("L'API", lambda: subprocess.Popen(_gunicorn_command(args.config)), feminine=True),
    ]
    supervisor = Supervisor(parts, config.run, stop)
    # First: the configuration's directory reads its credentials file, and so does the demo.
    try:
        for part in sandboxes:
            supervisor.launch(part)
    except PartFailed as ex:
        supervisor.stop_all()
        raise CliError(str(ex)) from ex
    try:
        demo_member = ensure_demo(config)
        if not stop.is_set():
            for part in parts[len(sandboxes) :]:
                supervisor.launch(part)
            print_welcome(config, demo_member, port, sandboxes=True)
    except BaseException:
        supervisor.stop_all()
        raise
    return supervisor.run()


#: Why a file cannot be read, for the errors people meet.
READ_ERRORS = {
    errno.ENOENT: "fichier introuvable",
    errno.EACCES: "lecture non autorisée",
    errno.EISDIR: "c'est un dossier, pas un fichier",
}


def _read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as ex:
        reason = READ_ERRORS.get(ex.errno, ex.strerror or "erreur de lecture")
        raise CliError(f"impossible de lire « {path} » : {reason}.") from ex


def _progress(done: int, total: int, path: str) -> None:
    """Say on a terminal how far a long run has gone (never in a pipe or a file)."""
    if total > 1 and sys.stderr.isatty():
        end = "\n" if done == total else ""
        print(f"\r\033[K[{done}/{total}] {path}", end=end, file=sys.stderr, flush=True)


def _member_for_cli(services, member_option: str | None) -> str:
    """Return the member a CLI command acts for: --member, else the demo member."""
    from gateway.auth import hash_key

    if member_option:
        return member_option
    demo_file = services.config.var_dir / "demo-api-key"
    if demo_file.exists():
        record = services.store.find_api_key(hash_key(demo_file.read_text().strip()))
        if record:
            return record["member_id"]
    raise SystemExit("Indiquez --member ID (aucun membre de démonstration trouvé).")


def _refused(ex: DomainError) -> dict:
    """Return a refusal (DomainError) as the report of an invalid file."""
    return {"valid": False, **ex.answer()}


def cmd_validate(args) -> int:
    """Check files without storing anything; exit 0 when all are valid, 1 otherwise."""
    config = _config(args, answers=True)
    services = _services(config)
    rules = frozenset(args.rules.split(",")) if args.rules else None
    member = args.member  # without one: no duplicate check, default routing
    reports, all_valid = [], True
    for done, path in enumerate(args.files, 1):
        _progress(done, len(args.files), path)
        try:
            result = services.invoices.dry_run(member, _read_file(path), "", args.format, rules)
        except DomainError as ex:
            result = _refused(ex)
        all_valid &= result["valid"]
        reports.append({"file": path, **result})
    if args.json:
        print(json.dumps(reports, ensure_ascii=False, indent=2))
    else:
        for report in reports:
            print_report(report)
    return 0 if all_valid else 1


def print_report(report: dict, indent: str = "") -> None:
    results = report.get("invoices") or [report]
    print(f"{indent}{report['file']} : {'valide' if report['valid'] else 'NON VALIDE'}")
    for result in results:
        if "number" in result and len(results) > 1:
            verdict = "valide" if result["valid"] else "NON VALIDE"
            print(f"{indent}  facture {result['number']} : {verdict}")
        for kind, label in (("errors", "erreur"), ("warnings", "avertissement")):
            for finding in result.get(kind, []):
                where = f" [{finding['field']}]" if finding.get("field") else ""
                print(f"{indent}  - {label} {finding['code']}{where} : {finding['message']}")


def cmd_send(args) -> int:
    """Submit files as the API would (for scripts); the worker then sends them."""
    config = _config(args, answers=True)
    services = _services(config)
    member = _member_for_cli(services, args.member)
    status = 0
    for path in args.files:
        try:
            accepted = services.invoices.submit(member, _read_file(path), "", args.format)
        except DomainError as ex:
            status = 1
            print_report({"file": path, **_refused(ex)})
            continue
        for receipt in accepted.receipts:
            print(
                f"{path} : facture {receipt['number']} reçue "
                f"({receipt['id']}, canal {receipt['channel']})"
            )
    return status


def cmd_convert(args) -> int:
    """Read a document in any installed format and write it in another."""
    config = _config(args, answers=True)
    services = _services(config)
    renderer = services.registry.renderers.get(args.to)
    if renderer is None:
        known = ", ".join(sorted(services.registry.renderers))
        print(f"Rendu inconnu : {args.to} (disponibles : {known})", file=sys.stderr)
        return 2
    try:
        invoices = services.invoices.read(_read_file(args.file), "", args.format)
    except DomainError as ex:
        print_report({"file": args.file, **_refused(ex)})
        return 1
    # A document whose amounts don't add up is refused as validate refuses it: rendering
    # would silently replace its figures by the computed ones.
    inconsistent = [
        finding.as_dict()
        for index, invoice in enumerate(invoices)
        for finding in of_invoice(totals_findings(invoice), index, len(invoices))
    ]
    if inconsistent and not args.recompute:
        print_report({"file": args.file, "valid": False, "errors": inconsistent})
        print(
            "Montants incohérents : corrigez-les, ou faites-les recalculer avec --recompute.",
            file=sys.stderr,
        )
        return 1
    for finding in inconsistent:
        print(f"recalculé [{finding['field']}] : {finding['message']}", file=sys.stderr)
    outputs = []
    for index, invoice in enumerate(invoices):
        content = renderer.render(invoice, profile=args.profile)
        if args.output:
            target = Path(args.output)
            if len(invoices) > 1:
                target = target.with_name(f"{target.stem}-{index + 1}{target.suffix}")
            target.write_bytes(content)
            outputs.append(str(target))
        elif len(invoices) == 1:
            sys.stdout.buffer.write(content)
        else:
            print("Le document contient plusieurs factures : indiquez -o FICHIER.", file=sys.stderr)
            return 2
    for output in outputs:
        print(output, file=sys.stderr)
    return 0


def _sandbox_command(config: Config, port: str, sandbox: Sandbox = CHORUS_SANDBOX) -> list[str]:
    var = config.var_dir
    var.mkdir(parents=True, exist_ok=True)
    return [
        sys.executable,
        "-m",
        sandbox.module,
        "--port",
        port,
        "--state",
        str(var / f"{sandbox.name}-sandbox.sqlite3"),
        "--credentials-out",
        str(var / sandbox.credentials),
    ]


def start_sandbox(config: Config, port: str, sandbox: Sandbox = CHORUS_SANDBOX) -> subprocess.Popen:
    """Start a sandbox; return once it listens, its credentials file written."""
    child = subprocess.Popen(
        _sandbox_command(config, port, sandbox), cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    banner = child.stdout.readline()  # its first line, printed once it listens
    if not banner:
        child.wait()
        raise PartFailed(
            f"{sandbox.label} n'a pas démarré sur le port {port} (déjà pris ?) : "
            f"choisissez-en un autre avec {sandbox.port_variable}=…"
        )
    print(banner, end="", flush=True)
    threading.Thread(target=_echo, args=(child.stdout,), daemon=True).start()
    return child


def _echo(stream) -> None:
    for line in stream:
        print(line, end="", flush=True)


def cmd_sandbox(args) -> int:
    """Run a sandbox (contrib/chorus_sandbox, contrib/dilifac_sandbox) in the foreground."""
    config = load_config(args.config)
    port = str(args.port or args.sandbox.port())
    return subprocess.call(_sandbox_command(config, port, args.sandbox), cwd=ROOT)


DESCRIPTION = """Passerelle de facturation électronique des libraires vers Chorus Pro.

« make run » lance « facture-gateway run » ; « facture-gateway COMMANDE -h » détaille
chaque commande."""

ENVIRONMENT = """variables d'environnement :
  GATEWAY_CONFIG        fichier de configuration (par défaut conf/gateway.toml)
  GATEWAY_HOME          dossier de travail (var/ : base SQLite, clés, journaux)
  GATEWAY_DATABASE_URL  base de données (par exemple postgresql://gateway@127.0.0.1/gateway)
  GATEWAY_SECRET_KEY    clé qui chiffre les réglages des membres
  GATEWAY_ADMIN_KEY     clé d'API de l'administrateur
  GATEWAY_LOG_FORMAT    json ou console ; GATEWAY_LOG_LEVEL : INFO, WARNING…
  PORT                  port de l'API (run, serve ; 8080 par défaut)
  SANDBOX_PORT          port du bac à sable Chorus Pro (run, sandbox ; 8081 par défaut)
  DILIFAC_SANDBOX_PORT  port du bac à sable Dilifac (run, dilifac-sandbox ; 8082 par défaut)
  PA_SANDBOX_PORT       port du bac à sable PA (run ; 8083 par défaut)

codes de sortie : 0 tout est valide, 1 au moins une facture refusée, 2 commande impossible
(fichier illisible, option inconnue)."""

#: argparse's own messages, said in French (it has no French of its own).
ARGPARSE_MESSAGES = (
    ("the following arguments are required:", "arguments obligatoires manquants :"),
    ("unrecognized arguments:", "arguments inconnus :"),
    ("invalid choice:", "choix invalide :"),
    ("expected one argument", "une valeur est attendue"),
    ("invalid int value:", "nombre entier attendu :"),
)


class FrenchFormatter(argparse.RawDescriptionHelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):
        # prefix "" is argparse naming a subcommand's program: left alone.
        french = "utilisation : " if prefix is None else prefix
        super().add_usage(usage, actions, groups, prefix=french)


class Parser(argparse.ArgumentParser):
    """An argument parser whose help and errors are in French."""

    def __init__(self, **kwargs):
        super().__init__(formatter_class=FrenchFormatter, add_help=False, **kwargs)
        self._positionals.title = "arguments"
        self._optionals.title = "options"
        self.add_argument("-h", "--help", action="help", help="afficher cette aide et quitter")

    def error(self, message: str):
        for english, french in ARGPARSE_MESSAGES:
            message = message.replace(english, french)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog} : erreur : {message}\n")


def _common_options(prefix: str = "") -> argparse.ArgumentParser:
    """``--config`` and ``-v``, stored under ``prefix`` (a command's own are merged in
    :func:`parse_args`: argparse would let a command's defaults hide the main ones)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        dest=f"{prefix}config",
        help="fichier de configuration (par défaut : GATEWAY_CONFIG, sinon conf/gateway.toml)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        dest=f"{prefix}verbose",
        action="count",
        default=0,
        help="journal sur la sortie d'erreur (-v : informations, -vv : détails)",
    )
    return common


def _archive_store(config: Config):
    from gateway.archive import open_blob_store
    from gateway.plugins import build_plugin_manager, call_each
    from gateway.store import Store

    pm, _ = build_plugin_manager(config.load_entrypoints)
    # Configured as the services do (a plugin that fails is left out, never a crash).
    list(call_each(pm, "gateway_configure", config=config))
    return Store(
        config.database_url,
        blobs=open_blob_store(config, pm),
        retention_years=config.archive.retention_years,
    )


def _signing_key(config: Config):
    try:
        key = config.archive.private_key()
    except ValueError as ex:
        raise CliError("la clé de signature de l'archive est illisible.") from ex
    if key is None:
        raise CliError(
            "aucune clé de signature de l'archive ([archive] signing_key) : lancez "
            "« facture-gateway migrate », qui la crée."
        )
    return key


def _stamper(config: Config):
    """Return the configured time-stamping authority (None: none), its calls restricted to
    ``[security] outbound_hosts`` as the services' are."""
    from gateway import outbound
    from gateway.config import ConfigError
    from gateway.timestamping import Stamper

    try:
        stamper = Stamper.from_config(config.archive)
    except ConfigError as ex:
        raise CliError(f"autorité d'horodatage mal configurée : {ex}") from ex
    outbound.configure(config.outbound_hosts)
    return stamper


def _tsa_certificate(config: Config | None, path: str | None) -> str | None:
    """Return the certificate (PEM) time-stamp tokens are checked against: ``path`` when
    given, else ``[archive] tsa_certificate`` (without ``config``: offline); None when
    neither."""
    from gateway.config import ConfigError
    from gateway.timestamping import load_certificates

    try:
        if path:
            pem = Path(path).read_text()
        else:
            pem = config.archive.tsa_certificate_pem() if config else None
        if pem is not None:
            load_certificates(pem)
    except (OSError, ValueError, ConfigError) as ex:
        raise CliError(f"certificat de l'autorité d'horodatage illisible : {ex}") from ex
    return pem


def cmd_archive_checkpoint(args) -> int:
    """Sign the journal's state now (its last entry's number and hash); time-stamp it with
    the configured authority, if any (a failure leaves it signed, without a token)."""
    config = _config(args, answers=True)
    from gateway.archive import canonical_time
    from gateway.timestamping import TimestampError, stamp_checkpoint

    stamper = _stamper(config)
    store = _archive_store(config)
    checkpoint = store.add_checkpoint(_signing_key(config))
    print(
        f"Point de contrôle signé : entrée {checkpoint['seq']}, empreinte "
        f"{checkpoint['hash']}, {canonical_time(checkpoint['at'])}"
    )
    if stamper is None:
        print("Non horodaté : aucune autorité d'horodatage configurée ([archive] tsa_url).")
        return 0
    try:
        stamp = stamp_checkpoint(store, checkpoint, stamper)
    except TimestampError as ex:
        print(f"Non horodaté : {ex}. Le point de contrôle est gardé, signé, sans jeton.")
        return 0
    print(
        f"Horodaté (RFC 3161) par « {stamp.tsa} » ({stamper.shown}) : "
        f"{canonical_time(stamp.gen_time)}, jeton n° {stamp.serial_number}"
    )
    return 0


def cmd_archive_public_key(args) -> int:
    """Print the public key that verifies the checkpoints (hex)."""
    config = _config(args, answers=True)
    from gateway.archive import public_key_hex

    print(public_key_hex(_signing_key(config)))
    return 0


def _public_key(given: str) -> str:
    """Return a public key given as its 64 hex digits, or as a file holding them."""
    text = given.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return text.lower()
    try:
        return Path(given).read_text().strip()
    except OSError as ex:
        raise CliError(f"clé publique illisible : {given} ({ex.strerror})") from ex


def cmd_archive_verify(args) -> int:
    """Check every document, the journal's chain and every checkpoint; exit 0 clean, 1
    broken, 2 could not run. A run on the live archive is kept for the admin's page."""
    from gateway import archive
    from gateway.store import utcnow

    def progress(what: str, done: int, total: int) -> None:
        print(f"{what} : {done}/{total}", file=sys.stderr, flush=True)

    public_key = _public_key(args.public_key) if args.public_key else None
    if args.export:  # offline: the zip and a public key, no database nor configuration
        from gateway.export import verify_export

        if not Path(args.export).is_file():
            raise CliError(f"fichier introuvable : {args.export}")
        tsa_certificate = _tsa_certificate(None, args.tsa_certificate)
        report = verify_export(args.export, public_key, progress, tsa_certificate)
    else:
        config = _config(args, answers=True)
        public_key = public_key or archive.public_key_hex(_signing_key(config))
        tsa_certificate = _tsa_certificate(config, args.tsa_certificate)
        try:
            store = _archive_store(config)
            report = archive.verify(store, store.blobs, public_key, progress, tsa_certificate)
        except Exception as ex:  # a database that cannot be read: say so, exit 2
            raise CliError(f"vérification impossible : {ex}") from ex
        try:  # for the admin's page; the verdict stands even if it cannot be kept
            store.record_verification(utcnow(), report.as_dict())
        except Exception as ex:
            print(f"résultat non enregistré : {ex}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        for problem in report.problems:
            print(f"- {problem.message}")
        print(report.verdict())
    return 0 if report.clean else 1


def cmd_inbound_pull(args) -> int:
    config = _config(args, answers=True)
    from gateway import inbound
    from gateway.worker import Worker

    services = _services(config)
    worker = Worker(
        store=services.store,
        registry=services.registry,
        config=config,
        secretbox=services.secretbox,
        clock=services.clock,
    )
    receiver, answers = inbound.for_worker(worker)
    print(f"{receiver.pull_all()} facture(s) reçue(s)")
    print(f"{answers.send_due()} statut(s) transmis ou retentés")
    return 0


def cmd_inbound_notify_token(args) -> int:
    config = _config(args, answers=True)
    from gateway import inbound

    print(inbound.notify_token(config, args.member, args.outlet))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="facture-gateway",
        description=DESCRIPTION,
        epilog=ENVIRONMENT,
        parents=[_common_options()],
    )
    common = _common_options("command_")
    commands = parser.add_subparsers(dest="command", required=True, title="commandes")

    def command(name: str, help: str, func) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, parents=[common])
        sub.set_defaults(func=func)
        return sub

    # add_parser builds subcommand parsers with the class of the main one.
    commands._parser_class = Parser

    command("serve", "servir l'API REST avec gunicorn (port : PORT)", cmd_serve)
    worker = command("worker", "envoyer les factures en attente et suivre leur statut", cmd_worker)
    worker.add_argument("--once", action="store_true", help="traiter ce qui est dû, puis quitter")
    command("migrate", "créer ou mettre à jour la base de données", cmd_migrate)
    command("demo", "créer le membre de démonstration et ses clés", cmd_demo)
    command(
        "rotate-secrets",
        "chiffrer à nouveau les réglages des membres avec la première clé secrète",
        cmd_rotate_secrets,
    )
    command(
        "run",
        "tout lancer : base, bacs à sable Chorus Pro (SANDBOX_PORT) et Dilifac "
        "(DILIFAC_SANDBOX_PORT), worker et API (PORT)",
        cmd_run,
    )

    validate = command("validate", "contrôler des factures sans les envoyer", cmd_validate)
    validate.add_argument("files", nargs="+", metavar="FICHIER")
    validate.add_argument("--rules", help="jeux de règles, par exemple en16931,fr,book,chorus")
    validate.add_argument("--format", help="format du fichier s'il n'est pas reconnu seul")
    validate.add_argument("--member", help="identifiant du membre (numéros en double, routage)")
    validate.add_argument("--json", action="store_true", help="rapport en JSON")

    convert = command("convert", "convertir une facture en UBL, CII, Factur-X ou PDF", cmd_convert)
    convert.add_argument("file", metavar="FICHIER")
    convert.add_argument("--to", required=True, help="ubl, cii, facturx ou pdf")
    convert.add_argument("-o", "--output", help="fichier écrit (par défaut : la sortie standard)")
    convert.add_argument("--format", help="format du fichier lu s'il n'est pas reconnu seul")
    convert.add_argument(
        "--profile", default="chorus", choices=PROFILES, help="profil : " + ", ".join(PROFILES)
    )
    convert.add_argument(
        "--recompute",
        action="store_true",
        help="remplacer des montants incohérents par ceux calculés, en disant lesquels",
    )

    sandbox = command("sandbox", "lancer le bac à sable Chorus Pro sur 127.0.0.1", cmd_sandbox)
    sandbox.add_argument("--port", type=int, help="port (par défaut : SANDBOX_PORT, sinon 8081)")
    sandbox.set_defaults(sandbox=CHORUS_SANDBOX)
    dilifac = command(
        "dilifac-sandbox", "lancer le bac à sable Dilifac (service SOAP) sur 127.0.0.1", cmd_sandbox
    )
    dilifac.add_argument(
        "--port", type=int, help="port (par défaut : DILIFAC_SANDBOX_PORT, sinon 8082)"
    )
    dilifac.set_defaults(sandbox=DILIFAC_SANDBOX)

    archive = commands.add_parser(
        "archive", help="l'archive : vérifier, signer un point de contrôle, clé publique"
    )
    archive_commands = archive.add_subparsers(dest="archive_command", required=True)
    archive_commands._parser_class = Parser
    for name, help, func in (
        (
            "verify",
            "vérifier chaque document, la chaîne du journal et ses points de "
            "contrôle (0 : intègre, 1 : altérée, 2 : impossible)",
            cmd_archive_verify,
        ),
        (
            "checkpoint",
            "signer l'état du journal (point de contrôle), et l'horodater si une autorité "
            "est configurée",
            cmd_archive_checkpoint,
        ),
        (
            "public-key",
            "afficher la clé publique qui vérifie les points de contrôle",
            cmd_archive_public_key,
        ),
    ):
        sub = archive_commands.add_parser(name, help=help, description=help, parents=[common])
        sub.set_defaults(func=func)
        if name == "verify":
            sub.add_argument("--json", action="store_true", help="rapport en JSON")
            sub.add_argument(
                "--public-key",
                metavar="CLÉ",
                help="clé publique des points de contrôle (64 chiffres hexadécimaux, ou un "
                "fichier qui les contient), à la place de la clé de signature configurée",
            )
            sub.add_argument(
                "--export",
                metavar="ZIP",
                help="vérifier un export (GET /v1/archive/export) hors ligne, sans base "
                "ni configuration",
            )
            sub.add_argument(
                "--tsa-certificate",
                metavar="FICHIER",
                help="certificat (PEM) de l'autorité d'horodatage ou de son AC, qui vérifie "
                "les jetons, à la place de [archive] tsa_certificate",
            )

    received = commands.add_parser(
        "inbound", help="les factures reçues des fournisseurs (docs/inbound.md)"
    )
    inbound_commands = received.add_subparsers(dest="inbound_command", required=True)
    inbound_commands._parser_class = Parser
    pull = inbound_commands.add_parser(
        "pull",
        help="relever maintenant les factures reçues de chaque membre, et transmettre ses "
        "statuts en attente",
        parents=[common],
    )
    pull.set_defaults(func=cmd_inbound_pull)
    token = inbound_commands.add_parser(
        "notify-token",
        help="afficher le jeton que la plateforme présente pour signaler des factures "
        "(POST /v1/inbound/notify/{membre}/{sortie}, en-tête X-Inbound-Token)",
        parents=[common],
    )
    token.add_argument("--member", required=True, help="identifiant du membre")
    token.add_argument("--outlet", required=True, help="nom de la sortie (pa…)")
    token.set_defaults(func=cmd_inbound_notify_token)

    send = command("send", "déposer des fichiers de factures dans la file d'envoi", cmd_send)
    send.add_argument("files", nargs="+", metavar="FICHIER")
    send.add_argument("--format", help="format du fichier s'il n'est pas reconnu seul")
    send.add_argument(
        "--member", help="identifiant du membre (par défaut : celui de démonstration)"
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; ``--config`` and ``-v`` may stand before or after the command."""
    args = build_parser().parse_args(argv)
    args.config = args.command_config or args.config
    args.verbose += args.command_verbose
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return args.func(args)
    except CliError as ex:
        print(f"facture-gateway : {ex}", file=sys.stderr)
        return 2
