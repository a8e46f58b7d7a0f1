"""The scenario topology as a networkx MultiGraph, and back.

``to_graph(topology)`` gives a :class:`networkx.MultiGraph` whose nodes are keyed by id
and whose edges are keyed by edge id; every node and edge carries ``kind`` and all of
its fields as attributes. ``from_graph(graph)`` is the inverse, so planners can build or
edit a topology with networkx and hand it back. Both are O(V + E).
"""

from __future__ import annotations

import math

import networkx as nx

from placer.scenario import Topology

EARTH_RADIUS_KM = 6371.0088


def to_graph(topology: Topology) -> nx.MultiGraph:
    graph = nx.MultiGraph()
    for node in topology.nodes:
        graph.add_node(node.id, **node.model_dump(exclude={"id"}))
    for edge in topology.edges:
        attrs = edge.model_dump(exclude={"id", "from_node", "to_node"})
        graph.add_edge(edge.from_node, edge.to_node, key=edge.id, **attrs)
    return graph


def from_graph(graph: nx.Graph) -> Topology:
    """Build a validated :class:`Topology` from a graph with ``kind`` on every node and edge."""
    nodes = [{"id": n, **data} for n, data in graph.nodes(data=True)]
    edges = []
    if graph.is_multigraph():
        for u, v, key, data in graph.edges(keys=True, data=True):
            edge = {"from": u, "to": v, **data}
            if isinstance(key, str):
                edge.setdefault("id", key)
            edges.append(edge)
    else:
        edges = [{"from": u, "to": v, **data} for u, v, data in graph.edges(data=True)]
    return Topology.model_validate({"nodes": nodes, "edges": edges})


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))
