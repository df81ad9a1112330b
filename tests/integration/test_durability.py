"""SIGKILL in the middle of a burst of writes loses no acknowledged write."""
import os
import signal
import threading

import requests

from conftest import Skiff, wait_until


def test_sigkill_loses_no_acknowledged_write(tmpdir_path):
    data = os.path.join(tmpdir_path, "data")
    s = Skiff(data).start()
    acknowledged = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(k):
        session = requests.Session()
        i = 0
        while not stop.is_set():
            name = f"burst-{k}-{i}"
            i += 1
            try:
                r = session.post(s.url + "/api/v1/namespaces", headers=s.headers(),
                                 json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                                 timeout=10)
            except requests.RequestException:
                return  # the server died under us: this write was never acknowledged
            if r.status_code == 201:
                with lock:
                    acknowledged.append(name)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acknowledged) >= 150, timeout=60, what="150 acknowledged writes")
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    with lock:
        acked = list(acknowledged)

    s2 = Skiff(data).start()
    try:
        r = s2.request("GET", "/api/v1/namespaces")
        assert r.status_code == 200
        present = {i["metadata"]["name"] for i in r.json()["items"]}
        missing = [n for n in acked if n not in present]
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    finally:
        assert s2.stop() == 0
