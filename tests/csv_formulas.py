"""Leads whose fields a spreadsheet would run as formulas, and their cells as every CSV export
must write them (OWASP's CSV injection advice: a leading `'`; plain numbers left alone)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from segmint.store.tables import leads

FORMULA_LEADS = [
    {
        "email": "f1@x.test",
        "first_name": "=1+2",
        "company": '=HYPERLINK("http://evil.test","x")',
        "phone": "-5",
    },
    {
        "email": "f2@x.test",
        "first_name": "@SUM(A1)",
        "job_title": "+cmd|' /C calc'!A0",
        "phone": "+4930123456",
        "source": "-2+3",
    },
    {
        "email": "f3@x.test",
        "first_name": "Plain",
        "company": "A=B",
        "phone": "-0.5",
        "job_title": "-",
    },
    {"email": "f4@x.test", "first_name": "Tab"},
]
# Leading tabs and carriage returns never survive validation (it trims); a row written some
# other way (an older version, another tool) still holds them.
UNTRIMMED = {"company": "\tTab Co", "job_title": "\r=2"}
FORMULA_ROWS = [
    ["'=1+2", "f1@x.test", "-5", '\'=HYPERLINK("http://evil.test","x")', "", "", "new"],
    ["'@SUM(A1)", "f2@x.test", "+4930123456", "", "'+cmd|' /C calc'!A0", "'-2+3", "new"],
    ["Plain", "f3@x.test", "-0.5", "A=B", "'-", "", "new"],
    ["Tab", "f4@x.test", "", "'\tTab Co", "'\r=2", "", "new"],
]


def write_untrimmed(db: Engine, project_id: int, email: str) -> None:
    with db.begin() as conn:
        conn.execute(
            leads.update()
            .where(leads.c.project_id == project_id, leads.c.email == email)
            .values(**UNTRIMMED)
        )


# Values a CSV writer or a spreadsheet trips over, stored as they are (written straight to the
# table: the API's validation would trim some). The index writes most values as they are and
# formats only those writing changes; each must come out as COPY / Python's csv write it.
HOSTILE_TEXTS = [
    "Smith, Jones",
    'say "hi"',
    "two\nlines",
    "carriage\rreturn",
    "crlf\r\n",
    "ends in newline\n",
    "=1+2",
    "+x",
    "-x",
    "@x",
    "\tx",
    "\rx",
    "-5",
    "+4930123456",
    "-0.5",
    "-5\n",
    "+1-555-0100",
    "Ünïcödé 日本 🙂",
    "\\.",
    "",
    " padded ",
    "plain",
]
HOSTILE_NAMES = [
    (None, None),
    (" ", None),
    ("", ""),
    ("  Ann", "Lee  "),
    ("=cmd", None),
    (None, "Doe, Jr."),
    ("@x", "y"),
    ("-5", None),
    ("Zoë", "Ünïcödé"),
    ("\\.", None),
]
