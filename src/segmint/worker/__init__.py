"""The background process (`segmint worker`, or a thread of `segmint serve`): the loop that
takes the outbox's work items and applies the engine's membership rules to them (loop.py,
outbox.py), time and score sweeps, webhook delivery (delivery.py), campaign sending (the
campaigns package's Sender, driven from here) and the lock that keeps SQLite to one worker
(lock.py)."""
