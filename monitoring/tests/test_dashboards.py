"""The dashboards are valid Grafana JSON a sidecar can provision anywhere: unique ids, a data
source variable instead of a hard-coded data source, and a query in every panel."""

import pytest

from promql import dashboards, expressions, metric_names

BOARDS = dashboards()


def test_the_expected_dashboards_exist():
    assert set(BOARDS) == {f"shop-{n}.json" for n in ["overview", "user", "billing", "order", "notification", "order-flow"]}
    uids = [b["uid"] for b in BOARDS.values()]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panel_ids_are_unique_and_every_panel_queries_the_variable_datasource(name):
    board = BOARDS[name]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {name}"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    graphs = [p for p in board["panels"] if p["type"] != "row"]
    assert graphs
    for panel in graphs:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].strip()


def test_every_expression_reads_some_metric():
    for where, expr in expressions():
        assert metric_names(expr), f"{where}: no metric in {expr!r}"
