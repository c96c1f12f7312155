"""test_security_files: nothing planted is followed: a data or run directory of another user or
writable by others, lock.mdb / data.mdb / a socket's lock file planted as symlinks (the targets
stay untouched), and sockets born 0660 in a 0750 directory whatever the umask."""
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


if __name__ == "__main__":
    unittest.main()
