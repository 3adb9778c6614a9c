"""Service analytics over the KPI registry (``itsm.kpis``): daily snapshots, trends, the
before/after report, the dashboard and agent home pages, the KPI API and the Prometheus gauges."""
