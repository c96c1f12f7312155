"""test_security_files: nothing planted is followed: a data or run directory of another user or
writable by others, lock.mdb / data.mdb / a socket's lock file planted as symlinks (the targets
stay untouched), and sockets born 0660 in a 0750 directory whatever the umask; backups only
under --backup-dir (refused without it, outside it, through '..' or a symlink), with the
store's mode."""
import os
import stat
import subprocess
import unittest

import mbharness as mb
from agentd_util import mbsend

AGENTD = mb.binpath("metricsbus-agentd")
NOBODY = 65534


class PlantedFiles(mb.StackTest):
    def refused(self, *args, data=None, ingest=None, query=None, umask=None):
        st = self.stack
        argv = [AGENTD, "--data-dir", data or st.data_dir, "--ingest", ingest or st.ingest,
                "--query", query or st.query] + list(args)
        p = st.spawn(argv, name="agentd")
        self.assertNotEqual(p.wait(timeout=60), 0, "agentd started")
        return st.log_of(p)

    def target(self):
        """A file agentd must never write through a symlink: its bytes are checked after."""
        path = os.path.join(self.stack.dir, "victim")
        with open(path, "wb") as f:
            f.write(b"precious" * 4096)
        return path

    def untouched(self, path):
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"precious" * 4096)

    def need_root(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to create files of another user")

    def test_data_dir_of_another_user_or_open_to_others_refused(self):
        self.need_root()
        st = self.stack
        os.makedirs(st.data_dir, mode=0o750)
        os.chown(st.data_dir, NOBODY, NOBODY)
        log = self.refused()
        self.assertIn("data directory %s belongs to uid %d" % (st.data_dir, NOBODY), log)
        self.assertIn("chown", log)
        os.chown(st.data_dir, 0, 0)
        os.chmod(st.data_dir, 0o777)
        log = self.refused()
        self.assertIn("is writable by others (mode 0777): fix it with chmod go-w", log)
        os.chmod(st.data_dir, 0o770)
        self.assertIn("is writable by its group", self.refused())
        self.assertEqual(os.listdir(st.data_dir), [])   # nothing opened there
        os.chmod(st.data_dir, 0o750)
        st.agentd()

    def test_planted_lock_mdb_and_data_mdb_symlinks_refused(self):
        st = self.stack
        os.makedirs(st.data_dir, mode=0o750)
        victim = self.target()
        for name in ("lock.mdb", "data.mdb"):
            link = os.path.join(st.data_dir, name)
            os.symlink(victim, link)
            log = self.refused()
            self.assertIn("%s is a symlink" % link, log)
            self.untouched(victim)
            os.unlink(link)
        # a hard link to another file is refused too
        os.link(victim, os.path.join(st.data_dir, "data.mdb"))
        self.assertIn("not a regular file of agentd's own", self.refused())
        self.untouched(victim)

    def test_run_dir_of_another_user_or_symlinked_lock_refused(self):
        self.need_root()
        st = self.stack
        run = os.path.join(st.dir, "foreign")
        os.makedirs(run, mode=0o755)
        os.chown(run, NOBODY, NOBODY)   # as if another user made /tmp/metricsbus-$UID first
        ingest = "ipc://%s/ingest.sock" % run
        log = self.refused(ingest=ingest)
        self.assertIn("run directory %s belongs to uid %d" % (run, NOBODY), log)
        self.assertFalse(os.path.exists(run + "/ingest.sock"))
        # a symlinked socket lock in our own run directory
        victim = self.target()
        os.symlink(victim, st.query[len("ipc://"):] + ".lock")
        log = self.refused()
        self.assertIn("is a symlink", log)
        self.untouched(victim)

    def test_non_root_agentd_refuses_a_run_dir_another_user_made(self):
        """The report's case: agentd as an ordinary user, its run directory made first by
        another user (as /tmp/metricsbus-$UID can be), who could then replace query.sock."""
        self.need_root()
        import shutil
        if not shutil.which("setpriv"):
            self.skipTest("setpriv (util-linux) not installed")
        st = self.stack
        os.chmod(st.dir, 0o711)
        data = os.path.join(st.dir, "nobody-data")
        os.makedirs(data, mode=0o750)
        os.chown(data, NOBODY, NOBODY)
        run = os.path.join(st.dir, "theirs")
        os.makedirs(run, mode=0o755)   # root's: another user than agentd's
        p = st.spawn(["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups",
                      AGENTD, "--data-dir", data, "--ingest", "ipc://%s/ingest.sock" % run,
                      "--query", "ipc://%s/query.sock" % run], name="agentd")
        self.assertNotEqual(p.wait(timeout=60), 0)
        self.assertIn("run directory %s belongs to uid 0, not to agentd's user (uid %d)"
                      % (run, NOBODY), st.log_of(p))
        self.assertEqual(os.listdir(run), [])
        # its own run directory works
        mine = os.path.join(st.dir, "mine")
        os.makedirs(mine, mode=0o750)
        os.chown(mine, NOBODY, NOBODY)
        p = st.spawn(["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups",
                      AGENTD, "--data-dir", data, "--ingest", "ipc://%s/ingest.sock" % mine,
                      "--query", "ipc://%s/query.sock" % mine], name="agentd")
        mb.poll(lambda: os.path.exists(mine + "/query.sock") and
                mbsend("query", "ipc://%s/query.sock" % mine, "ping", check=False),
                what="agentd as nobody up")
        self.assertEqual(st.stop(p), 0)

    def test_sockets_born_0660_in_0750_dir_under_any_umask(self):
        st = self.stack
        run = os.path.join(st.dir, "fresh", "run")
        ingest, q = "ipc://" + run + "/ingest.sock", "ipc://" + run + "/query.sock"
        p = st.spawn(["sh", "-c", 'umask 000; exec "$@"', "sh", AGENTD, "--data-dir",
                      st.data_dir, "--ingest", ingest, "--query", q], name="agentd")
        mb.poll(lambda: os.path.exists(run + "/query.sock") and
                mbsend("query", q, "ping", check=False), what="agentd up")
        self.assertEqual(stat.S_IMODE(os.stat(run).st_mode), 0o750)
        for s in ("ingest.sock", "query.sock"):
            m = os.stat(os.path.join(run, s)).st_mode
            self.assertTrue(stat.S_ISSOCK(m))
            self.assertEqual(stat.S_IMODE(m), 0o660, s)
        self.assertEqual(stat.S_IMODE(os.stat(st.data_dir).st_mode), 0o750)
        for f in ("data.mdb", "lock.mdb"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(st.data_dir, f)).st_mode), 0o640)
        self.assertEqual(st.stop(p), 0)


class Backups(mb.StackTest):
    def backup(self, dest):
        r = self.stack.cli("backup", dest)
        return r.returncode, r.stdout + r.stderr

    def test_refused_without_backup_dir(self):
        st = self.stack
        st.agentd()
        rc, out = self.backup(os.path.join(st.dir, "bk"))
        self.assertEqual(rc, 1)
        self.assertIn("backups are off: start agentd with --backup-dir", out)
        self.assertFalse(os.path.exists(os.path.join(st.dir, "bk")))

    def test_only_under_backup_dir_never_through_dotdot_or_symlink(self):
        st = self.stack
        root = os.path.join(st.dir, "backups")
        outside = os.path.join(st.dir, "outside")
        os.makedirs(outside)
        st.agentd("--backup-dir", root)
        for dest, why in ((outside + "/x", "is not under --backup-dir"),
                          ("/etc/mb-backup", "is not under --backup-dir"),
                          (root + "/a/../../outside/y", "no '.' or '..'"),
                          (root, "name a directory under --backup-dir")):
            rc, out = self.backup(dest)
            self.assertEqual(rc, 1, dest)
            self.assertIn(why, out, dest)
        # a symlink inside the backup dir that leads out of it
        os.symlink(outside, os.path.join(root, "link"))
        rc, out = self.backup(root + "/link/z")
        self.assertEqual(rc, 1)
        self.assertIn("a symlink (never followed)", out)
        self.assertEqual(os.listdir(outside), [])
        self.assertFalse(os.path.exists("/etc/mb-backup"))
        # where it is allowed: written, with the store's mode (0640), not the umask's 0644
        rc, out = self.backup(root + "/2026/one")
        self.assertEqual(rc, 0, out)
        data = os.path.join(root, "2026", "one", "data.mdb")
        self.assertEqual(stat.S_IMODE(os.stat(data).st_mode), 0o640)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(root, "2026")).st_mode), 0o750)
        rc, out = self.backup(root + "/2026/one")
        self.assertEqual(rc, 1)
        self.assertIn("not empty", out)

    def test_backup_dir_of_another_user_refused_at_start(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to create a directory of another user")
        st = self.stack
        root = os.path.join(st.dir, "backups")
        os.makedirs(root, mode=0o750)
        os.chown(root, NOBODY, NOBODY)
        p = st.agentd("--backup-dir", root, wait=False)
        self.assertNotEqual(p.wait(timeout=60), 0)
        self.assertIn("--backup-dir %s belongs to uid %d" % (root, NOBODY), st.log_of(p))


if __name__ == "__main__":
    unittest.main()
