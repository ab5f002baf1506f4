"""The Python SDK (docker from PyPI) against mini's Engine API service.

Run by tests/tests/api.rs with DOCKER_HOST set to the service's socket and SUBNET to a free
subnet; every check is an assert, and the script prints "sdk: ok" at its end.
"""
import os
import sys

import docker

client = docker.from_env(timeout=60)
assert client.ping()
version = client.version()
assert version["ApiVersion"] == "1.44", version

# Images: the one the test pulled through mini, and a pull through the SDK.
busybox = client.images.pull("busybox", tag="latest")
assert "busybox:latest" in busybox.tags, busybox.tags
assert any("busybox:latest" in image.tags for image in client.images.list())
assert client.images.get("busybox").id == busybox.id

# A container run to its end: its output and its code.
out = client.containers.run("busybox", ["sh", "-c", "echo hello"], network_mode="none", remove=True)
assert out == b"hello\n", out

# A detached one: labels, logs, exec with both streams apart, stop, wait, remove.
box = client.containers.run(
    "busybox",
    ["sh", "-c", "echo started; sleep 1000"],
    detach=True,
    name="sdkbox",
    labels={"suite": "sdk"},
    network_mode="none",
)
box.reload()
assert box.status == "running", box.status
assert box.labels["suite"] == "sdk"
assert [c.name for c in client.containers.list(filters={"label": "suite=sdk"})] == ["sdkbox"]
for _ in range(50):
    if box.logs() == b"started\n":
        break
    import time

    time.sleep(0.1)
assert box.logs() == b"started\n", box.logs()
code, (stdout, stderr) = box.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"], demux=True)
assert (code, stdout, stderr) == (3, b"out\n", b"err\n"), (code, stdout, stderr)
code, output = box.exec_run(["cat", "/etc/hostname"])
assert code == 0 and output.strip() == box.id[:12].encode(), output
# A terminal: one translation of newlines (the container's), and the framing the start asks.
code, output = box.exec_run(["echo", "hi"], tty=True)
assert (code, output) == (0, b"hi\r\n"), (code, output)
box.stop(timeout=0)
assert box.wait()["StatusCode"] == 137
box.remove()
try:
    client.containers.get("sdkbox")
    raise AssertionError("sdkbox is still there")
except docker.errors.NotFound:
    pass

# An --rm container's code reaches wait although the container is gone by then.
quick = client.containers.run("busybox", ["sh", "-c", "sleep 0.3; exit 5"], detach=True, auto_remove=True, network_mode="none")
assert quick.wait()["StatusCode"] == 5

# Networks and volumes.
network = client.networks.create(
    "sdknet", ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=os.environ["SUBNET"])])
)
volume = client.volumes.create("sdkvol", labels={"suite": "sdk"})
assert [v.name for v in client.volumes.list(filters={"label": "suite=sdk"})] == ["sdkvol"]
server = client.containers.run(
    "busybox", ["sleep", "1000"], detach=True, name="sdkserver", network="sdknet",
    volumes={"sdkvol": {"bind": "/data", "mode": "rw"}},
)
network.reload()
assert [c.name for c in network.containers] == ["sdkserver"], network.containers
peer = client.containers.run("busybox", ["sleep", "1000"], detach=True, name="sdkpeer")
network.connect(peer, aliases=["buddy"])
code, output = client.containers.get("sdkserver").exec_run(["ping", "-c", "1", "-W", "5", "buddy"])
assert code == 0, output
network.disconnect(peer)
for container in (server, peer):
    container.remove(force=True)
network.remove()
volume.remove()
assert "sdknet" not in [n.name for n in client.networks.list()]
assert "sdkvol" not in [v.name for v in client.volumes.list()]
print("sdk: ok")
sys.exit(0)
