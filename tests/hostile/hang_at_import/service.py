"""Hostile fixture: never finishes importing."""

import time

from simulation.sdk import Service

while True:
    time.sleep(0.01)


class Hostile(Service):
    pass
