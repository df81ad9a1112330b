#!/usr/bin/python3
"""A real OpenLDAP slapd for tests, on 127.0.0.1 free ports, with users and groups.

Use from Python:

    with LdapPeer(tmpdir, tls=True) as ldap:
        ldap.url, ldap.port, ldap.ldaps_port, ldap.ca_file, ldap.bind_dn, ldap.bind_pw

or from any language through the command line (prints one JSON object on stdout):

    /usr/bin/python3 ldap_peer.py start DIR [--tls]    # slapd keeps running (it forks)
    /usr/bin/python3 ldap_peer.py stop DIR             # stops it by its pid file

Directory content (base dc=example,dc=org, password of every user "<uid>-pw"):
  ou=People:      uid=alice (mail alice@example.org, cn "Alice Smith"),
                  uid=bob (mail bob@example.org, cn "Bob Jones"),
                  uid=twin (mail twin1@example.org)
  ou=Contractors: uid=twin (mail twin2@example.org)    -> two entries match uid=twin
  ou=Groups:      cn=admins (member alice), cn=datascience (members alice, bob)
  cn=admin,dc=example,dc=org / "admin-secret" is the service account (rootdn).

slapd runs with `loglevel stats` into DIR/slapd.log (bind operations are logged there:
count_binds() reads them), is started from a generated slapd.conf (no debconf, no slapd.d),
and is stopped by its pid file with a deadline (SIGTERM, then SIGKILL).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

SCHEMA_DIR = "/etc/ldap/schema"
BASE_DN = "dc=example,dc=org"
BIND_DN = "cn=admin," + BASE_DN
BIND_PW = "admin-secret"

USERS = [
    # (ou, uid, cn, sn, mail)
    ("People", "alice", "Alice Smith", "Smith", "alice@example.org"),
    ("People", "bob", "Bob Jones", "Jones", "bob@example.org"),
    ("People", "twin", "Twin One", "One", "twin1@example.org"),
    ("Contractors", "twin", "Twin Two", "Two", "twin2@example.org"),
]
GROUPS = [("admins", ["alice"]), ("datascience", ["alice", "bob"])]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, timeout=30, text=True, **kw)


def _slappasswd(pw):
    return _run(["slappasswd", "-s", pw]).stdout.strip()


def _make_ca(d):
    """A test CA and a server certificate for 127.0.0.1/localhost (openssl CLI)."""
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(d, "server.ext")
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
          "-out", ca_crt, "-days", "2", "-subj", "/CN=skiff ldap test CA"])
    _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
          "-subj", "/CN=127.0.0.1"])
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
          "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext])
    return ca_crt, crt, key


def _ldif():
    out = [f"dn: {BASE_DN}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n"
           "o: Example\ndc: example\n"]
    for ou in ("People", "Contractors", "Groups"):
        out.append(f"dn: ou={ou},{BASE_DN}\nobjectClass: organizationalUnit\nou: {ou}\n")
    for ou, uid, cn, sn, mail in USERS:
        out.append(f"dn: uid={uid},ou={ou},{BASE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
                   f"cn: {cn}\nsn: {sn}\nmail: {mail}\nuserPassword: {_slappasswd(uid + '-pw')}\n")
    for cn, members in GROUPS:
        lines = "".join(f"member: uid={m},ou=People,{BASE_DN}\n" for m in members)
        out.append(f"dn: cn={cn},ou=Groups,{BASE_DN}\nobjectClass: groupOfNames\ncn: {cn}\n"
                   + lines)
    return "\n".join(out)


class LdapPeer:
    def __init__(self, workdir, tls=False):
        self.dir = os.path.abspath(workdir)
        self.tls = tls
        self.port = None
        self.ldaps_port = None
        self.ca_file = None
        self.bind_dn = BIND_DN
        self.bind_pw = BIND_PW
        self.base_dn = BASE_DN
        self.pidfile = os.path.join(self.dir, "slapd.pid")
        self.log = os.path.join(self.dir, "slapd.log")

    @property
    def url(self):
        return f"ldap://127.0.0.1:{self.port}"

    def info(self):
        return {"port": self.port, "ldaps_port": self.ldaps_port, "ca_file": self.ca_file,
                "bind_dn": self.bind_dn, "bind_pw": self.bind_pw, "base_dn": self.base_dn,
                "pidfile": self.pidfile, "log": self.log, "dir": self.dir}

    def _write_conf(self):
        db = os.path.join(self.dir, "db")
        os.makedirs(db, exist_ok=True)
        tls_lines = ""
        if self.tls:
            self.ca_file, crt, key = _make_ca(self.dir)
            tls_lines = (f"TLSCACertificateFile {self.ca_file}\nTLSCertificateFile {crt}\n"
                         f"TLSCertificateKeyFile {key}\n")
        conf = f"""
include {SCHEMA_DIR}/core.schema
include {SCHEMA_DIR}/cosine.schema
include {SCHEMA_DIR}/nis.schema
include {SCHEMA_DIR}/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {self.pidfile}
loglevel stats
{tls_lines}
database mdb
maxsize 67108864
suffix "{BASE_DN}"
rootdn "{BIND_DN}"
rootpw {_slappasswd(BIND_PW)}
directory {db}
overlay memberof
"""
        path = os.path.join(self.dir, "slapd.conf")
        with open(path, "w") as f:
            f.write(conf)
        _run(["slaptest", "-f", path, "-u"])
        return path

    def start(self, timeout=20):
        os.makedirs(self.dir, exist_ok=True)
        conf = self._write_conf()
        deadline = time.monotonic() + timeout
        for _attempt in range(3):
            self.port = _free_port()
            urls = f"ldap://127.0.0.1:{self.port}/"
            if self.tls:
                self.ldaps_port = _free_port()
                urls += f" ldaps://127.0.0.1:{self.ldaps_port}/"
            with open(self.log, "ab") as log:
                # -d stats keeps the log in a file we can read (and slapd in the foreground of
                # this Popen, so the pid we hold is slapd's own; the pid file says the same).
                self.proc = subprocess.Popen(
                    ["slapd", "-f", conf, "-h", urls, "-d", "stats"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # port taken or bad config: try again
                r = subprocess.run(["ldapsearch", "-x", "-H", self.url, "-b", "", "-s", "base",
                                    "-o", "nettimeout=2"],
                                   capture_output=True, timeout=10)
                if r.returncode == 0:
                    self._load()
                    return self
                time.sleep(0.1)
            if self.proc.poll() is None:
                self.stop()
            if time.monotonic() >= deadline:
                break
        raise RuntimeError("slapd did not start; log:\n" + open(self.log).read()[-4000:])

    def _load(self):
        _run(["ldapadd", "-x", "-H", self.url, "-D", BIND_DN, "-w", BIND_PW, "-o",
              "nettimeout=5"], input=_ldif())

    def count_binds(self, dn=None):
        """BIND operations slapd has logged so far (for one DN when given)."""
        n = 0
        with open(self.log, errors="replace") as f:
            for line in f:
                # One "BIND dn=... method=" line per bind request (a success adds a "mech=" line).
                if " BIND dn=" in line and " method=" in line and (
                        dn is None or f'dn="{dn}"' in line):
                    n += 1
        return n

    def stop(self, timeout=10):
        pid = None
        if getattr(self, "proc", None) is not None:
            pid = self.proc.pid
        elif os.path.exists(self.pidfile):
            with open(self.pidfile) as f:
                pid = int(f.read().strip())
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if getattr(self, "proc", None) is not None:
                if self.proc.poll() is not None:
                    return
            elif not os.path.exists(f"/proc/{pid}"):
                return
            time.sleep(0.05)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if getattr(self, "proc", None) is not None:
            self.proc.wait(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv):
    if len(argv) < 3 or argv[1] not in ("start", "stop", "binds"):
        print(__doc__, file=sys.stderr)
        return 2
    peer = LdapPeer(argv[2], tls="--tls" in argv)
    if argv[1] == "start":
        peer.start()
        # The command-line form leaves slapd running; detach our handle so stop() uses the pid
        # file later.
        peer.proc = None
        print(json.dumps(peer.info()), flush=True)
    elif argv[1] == "stop":
        peer.proc = None
        peer.stop()
    else:
        print(peer.count_binds(argv[3] if len(argv) > 3 else None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
