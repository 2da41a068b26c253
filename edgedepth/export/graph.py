"""Small ONNX graph queries shared by the FP16 and INT8 passes."""
from __future__ import annotations

from collections import defaultdict


def producers_of(graph) -> dict:
    """tensor name -> the node that produces it."""
    return {out: node for node in graph.node for out in node.output}


def consumers_of(graph) -> dict:
    """tensor name -> the nodes that read it."""
    users = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            users[name].append(node)
    return users


def _descendants(graph, start) -> set[str]:
    consumers = consumers_of(graph)
    seen, stack = set(), [start]
    while stack:
        node = stack.pop()
        for out in node.output:
            for user in consumers.get(out, []):
                if user.name not in seen:
                    seen.add(user.name)
                    stack.append(user)
    return seen


def _last_ancestor(graph, op_types: tuple[str, ...]):
    """The node of one of ``op_types`` nearest (breadth-first) to the first graph output."""
    producers = producers_of(graph)
    frontier, seen = [producers[graph.output[0].name]], set()
    while frontier:
        nxt = []
        for node in frontier:
            if node.op_type in op_types:
                return node
            seen.add(node.name)
            nxt += [producers[i] for i in node.input if i in producers and producers[i].name not in seen]
        frontier = nxt
    return None


def head_nodes(graph, *, with_conv: bool = False) -> set[str]:
    """Names of the depth head: the last Sigmoid before the output and every node after it.

    With ``with_conv`` the Conv that produces the sigmoid's input (and a Pad feeding that conv) are
    included too: the INT8 pass keeps the whole head in float. Without a Sigmoid (not a DepthNet),
    the nodes after the last Conv.
    """
    sigmoid = _last_ancestor(graph, ("Sigmoid",))
    if sigmoid is None:
        conv = _last_ancestor(graph, ("Conv",))
        return _descendants(graph, conv) if conv is not None else set()
    names = {sigmoid.name} | _descendants(graph, sigmoid)
    if with_conv:
        producers = producers_of(graph)
        conv = producers.get(sigmoid.input[0])
        if conv is not None and conv.op_type == "Conv":
            names.add(conv.name)
            pad = producers.get(conv.input[0])
            if pad is not None and pad.op_type == "Pad":  # else the float conv reads an INT8 Pad output
                names.add(pad.name)
    return names


def topological_sort(graph) -> None:
    """Reorder ``graph.node`` in place so each node follows the producers of its inputs (stable).

    onnx.checker and TensorRT's parser require this order; ONNX Runtime's quantizer does not keep it.
    """
    producers = producers_of(graph)
    placed: set[int] = set()
    order = []
    visiting: set[int] = set()
    for root in list(graph.node):
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            key = id(node)
            if key in placed:
                continue
            if expanded:
                placed.add(key)
                order.append(node)
                continue
            if key in visiting:
                continue
            visiting.add(key)
            stack.append((node, True))
            for name in reversed(node.input):
                src = producers.get(name)
                if src is not None and id(src) not in placed:
                    stack.append((src, False))
    copies = [type(n)() for n in order]
    for dst, src in zip(copies, order):
        dst.CopyFrom(src)
    del graph.node[:]
    graph.node.extend(copies)
