"""Write and publish stage: records -> Parquet shards + dataset card + manifest; push to the Hub."""

from __future__ import annotations
