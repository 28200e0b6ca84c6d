"""Many boards on many hosts through labgrid: places acquired, samples shared, one report.

    mcudeploy farm up --emulate 2 --board nucleo-f446re      # coordinator + exporter, 2 QEMU places
    mcudeploy validate out/lenet --farm 127.0.0.1:PORT --board nucleo-f446re --boards 2 --data mnist
    mcudeploy bench --suite mlperf-tiny --farm 127.0.0.1:PORT --boards 2   # the suite's models over the places
    mcudeploy sweep net.py:f --data digits --sparsity 0.5 -o out/sw --farm 127.0.0.1:PORT --boards 2
    mcudeploy farm exporter-config -o exporter.yaml           # the boards this host has, for labgrid-exporter
    mcudeploy farm down

labgrid owns the farm (coordinator: places and who holds them; exporters: resources per host);
mcudeploy only acquires places, loads firmware, deals samples and merges the report:
client.py (labgrid's client library, synchronous), emulated.py (farm up/down), gdbload.py
(firmware into an emulated place), probe.py (a real board's, with pyOCD through its exporter
host's probe server), queue.py (dynamic dealing), run.py (validate over places), suite.py (the
MLPerf Tiny suite over places), exporter_config.py (a real host's boards as labgrid resources).
"""
