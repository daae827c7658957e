"""dovecot.conf, passwd-file and directories for the test Dovecot (tests/dovecot.py)."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

from tests.dovecot_tls import TlsFiles

USER = "tester"
PASSWORD = "s3cr@t/p%ss"  # URL-special characters; no ":" (the passwd-file separator)
# Advertised instead of Dovecot's full list, to exercise the polling and COPY+EXPUNGE paths.
WITHOUT_IDLE_AND_MOVE = "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE UNSELECT UIDPLUS NAMESPACE"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = mailroom-test-{port}
log_path = {root}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {uid}
mail_location = maildir:{root}/mail/%u
{capability}
{oauth2_passdb}passdb {{
  driver = passwd-file
  {password_mechanisms}args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
{anvil}}}
"""


TLS_CONFIG = """\
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
# the default elements plus the local port: which listener (and so which TLS mode) a login used
login_log_format_elements = user=<%u> method=%m rip=%r lip=%l lport=%{{lport}} mpid=%e %c \
  session=<%{{session}}>
"""

PASSWORD_MECHANISMS = "plain login"
OAUTH2_MECHANISMS = "xoauth2 oauthbearer"
# First in line for the OAuth2 mechanisms only; the passwd-file passdb after it keeps serving
# plain/login (the helper client), restricted to those so a refused token is not tried as a
# password too.
OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = {mechanisms}
  args = {conf}
}}
"""
# No 2 s delay on a refused login, and no penalty growing (up to 15 s a login, even a good one)
# with each failure from the same IP: the tests log in with a wrong token on purpose, often.
OAUTH2_FAILURE_DELAY = "auth_failure_delay = 0\n"
NO_AUTH_PENALTY = """\
  unix_listener anvil-auth-penalty {
    mode = 0
  }
"""
# Dovecot POSTs `token=<access token>` to the introspection URL (RFC 7662) and accepts the
# login when `active` is true and `username` is the user the client logged in as.
OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""


def write_config(
    root: Path,
    *,
    port: int,
    imaps_port: int,
    capability: str | None,
    tls: TlsFiles | None,
    introspection_url: str | None,
) -> None:
    """`introspection_url`: also offer XOAUTH2/OAUTHBEARER, checked against that endpoint."""
    uid, gid, internal_user, internal_group, login_user = _identities()
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir(exist_ok=True)
    root.chmod(0o755)
    if os.geteuid() == 0:
        os.chown(root / "mail", uid, gid)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{root}/mail/{USER}::\n")
    mechanisms, oauth2_passdb, password_mechanisms, anvil = PASSWORD_MECHANISMS, "", "", ""
    if introspection_url is not None:
        conf = root / "dovecot-oauth2.conf.ext"
        conf.write_text(OAUTH2_CONF.format(url=introspection_url))
        mechanisms = f"{PASSWORD_MECHANISMS} {OAUTH2_MECHANISMS}"
        oauth2_passdb = OAUTH2_FAILURE_DELAY + OAUTH2_PASSDB.format(
            mechanisms=OAUTH2_MECHANISMS, conf=conf
        )
        password_mechanisms = f"mechanisms = {PASSWORD_MECHANISMS}\n  "
        anvil = NO_AUTH_PENALTY
    (root / "dovecot.conf").write_text(
        CONFIG.format(
            mechanisms=mechanisms,
            oauth2_passdb=oauth2_passdb,
            password_mechanisms=password_mechanisms,
            anvil=anvil,
            root=root,
            port=port,
            uid=uid,
            internal_user=internal_user,
            internal_group=internal_group,
            login_user=login_user,
            capability=f"imap_capability = {capability}" if capability else "",
            ssl=TLS_CONFIG.format(cert=tls.cert, key=tls.key) if tls else "ssl = no",
            imaps_port=imaps_port,
        )
    )


def _identities() -> tuple[int, int, str, str, str]:
    """uid/gid of the mail user, and the users Dovecot's own processes run as."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.getuid())
        group = grp.getgrgid(os.getgid()).gr_name
        return me.pw_uid, me.pw_gid, me.pw_name, group, me.pw_name
    mail = pwd.getpwnam("mail")
    internal = "dovecot" if _user_exists("dovecot") else "mail"
    login = "dovenull" if _user_exists("dovenull") else "nobody"
    internal_group = grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name
    return mail.pw_uid, mail.pw_gid, internal, internal_group, login


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
