"""The durable sync pipeline: units of work are rows, the queue is a doorbell, a sweeper catches what was lost."""
