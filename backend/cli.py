"""Operator commands: `flask --app wsgi demo`, `create-user`, `ledger-verify` and `ledger-anchor`."""

from __future__ import annotations

import click
from flask import Flask, current_app

from backend.core.errors import DomainError
from backend.demo import DEMO_PASSWORD, load_demo
from backend.extensions import db
from backend.orgs.models import Org
from backend.people.models import Role
from backend.people.schemas import PersonSchema
from backend.people.service import add_membership, create_person
from backend.rating import anchors


def register_cli(app: Flask) -> None:
    """The operator commands on `flask --app wsgi`."""
    @app.cli.command("demo")
    @click.option("--force", is_flag=True, help="Allow loading demo data in production mode.")
    def demo(force: bool):
        """Load the demo data set (idempotent) and print its accounts."""
        if current_app.config["SANWEI_ENV"] == "production" and not force:
            raise click.ClickException("refusing to load demo data in production (use --force)")
        accounts = load_demo()
        db.session.commit()
        click.echo(f"Demo data ready. Every demo account's password: {DEMO_PASSWORD}")
        width = max(len(u) for u, _, _ in accounts)
        for username, name, what in accounts:
            click.echo(f"  {username:<{width}}  {name}  {what}")

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--password", required=True, help="At least 8 characters.")
    @click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
    @click.option("--org", "org_id", type=int, help="Org id the role is held on (omit only for admin).")
    @click.option("--name", help="Display name (defaults to the username).")
    def create_user(username: str, password: str, role: str, org_id: int | None, name: str | None):
        """Add a staff account with one role."""
        errors = PersonSchema().validate({"name": name or username, "username": username, "password": password})
        if errors:
            raise click.ClickException("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        org = None
        if org_id is not None:
            org = db.session.get(Org, org_id)
            if org is None:
                raise click.ClickException(f"no org with id {org_id}")
        elif role != Role.admin.value:
            raise click.ClickException("--org is required for every role but admin")
        try:
            person = create_person(name=name or username, username=username, password=password)
            add_membership(person, org, role)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        db.session.commit()
        where = f" on {org.name} (#{org.id})" if org else ""
        click.echo(f"created {username} (#{person.id}) as {role}{where}")

    _register_ledger_commands(app)


def _register_ledger_commands(app: Flask) -> None:
    """The ledger's anchors from the command line: check them, or anchor now."""
    @app.cli.command("ledger-verify")
    @click.option("--period", "period_id", type=int, help="One campaign (default: all).")
    @click.option("--anchors", "anchors_path", type=click.Path(exists=True, dir_okay=False),
                  help="A copy of the anchors kept elsewhere (default: LEDGER_ANCHOR_PATH).")
    def ledger_verify(period_id: int | None, anchors_path: str | None):
        """Walk each campaign's ledger and check it against every anchor; exit 1 if any fails."""
        failed = False
        for period in anchors.campaigns(period_id):
            result = anchors.verified(period, anchors_path)
            failed = failed or not result["ok"]
            _echo_verified(period, result)
        if failed:
            raise SystemExit(1)

    @app.cli.command("ledger-anchor")
    def ledger_anchor():
        """Anchor every campaign's ledger head now, as the daily job does."""
        click.echo(anchors.anchor_ledgers())


def _echo_verified(period, result: dict) -> None:
    chain = "ok" if result["first_bad"] is None else \
        f"entry {result['first_bad']['seq']} does not hold: {result['first_bad']['reason']}"
    click.echo(f"campaign {period.id} {period.name}: {result['entries']} entries, head {result['head'][:16]}, "
               f"chain {chain}; {len(result['anchors'])} anchors"
               + (f", {result['anchors_unreadable']} unreadable lines" if result["anchors_unreadable"] else ""))
    for anchor in result["anchors"]:
        state = "matches" if anchor["ok"] else f"DOES NOT MATCH: {anchor['reason']}"
        click.echo(f"  anchor line {anchor['line']} at {anchor['at']} seq {anchor['seq']} "
                   f"{anchor['hash'][:16]}: {state}")
    if result["first_bad_anchor"]:
        click.echo(f"  first anchor that no longer matches: line {result['first_bad_anchor']['line']}")
