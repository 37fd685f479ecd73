"""Contract: /v1/$batch — OData multipart/mixed with a changeset, per-part statuses, the 100-part cap,
Export refused inside a batch, every part counted toward the rate limit."""

import json
import re

import requests

from sandbox.channeladvisor.models import DCQuantity, Order, Product, RateCounter


def http_part(method, url, body=None, content_id=None):
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    if body is not None:
        lines += ["Content-Type: application/json", "", json.dumps(body)]
    else:
        lines.append("")
    return "\r\n".join(lines) + "\r\n"


def batch_body(changeset_parts, top_level_parts=()):
    """A batch with optional top-level GETs and one changeset."""
    out = []
    for part in top_level_parts:
        out.append(f"--batch_1\r\n{part}")
    if changeset_parts:
        out.append("--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_1\r\n\r\n")
        for part in changeset_parts:
            out.append(f"--changeset_1\r\n{part}")
        out.append("--changeset_1--\r\n")
    out.append("--batch_1--\r\n")
    return "".join(out)


def send(ca, body):
    return requests.post(f"{ca.base}/v1/$batch", data=body.encode(), timeout=30, headers={
        "Authorization": f"Bearer {ca.access_token}", "Content-Type": "multipart/mixed; boundary=batch_1"})


def statuses(response):
    return [int(code) for code in re.findall(r"HTTP/1\.1 (\d{3})", response.text)]


def test_batch_patches_products_in_a_changeset(ca, sandbox):
    ca.generate(products=3)
    products = list(Product.objects.filter(sandbox=sandbox).order_by("id"))
    parts = [http_part("PATCH", f"{ca.base}/v1/Products({p.id})", {"RetailPrice": 10 + index}, index + 1)
             for index, p in enumerate(products)]
    parts.append(http_part("POST", f"{ca.base}/v1/Products({products[0].id})/UpdateQuantity",
                           {"Value": {"UpdateType": "Absolute", "Updates": [{"DistributionCenterID": 0,
                                                                             "Quantity": 3}]}}, 4))
    parts.append(http_part("PATCH", f"{ca.base}/v1/Products(999999999)", {"RetailPrice": 1}, 5))
    response = send(ca, batch_body(parts, [http_part("GET", f"Products({products[1].id})")]))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert statuses(response) == [200, 204, 204, 204, 204, 404]
    assert "changesetresponse_" in response.text and "Content-ID: 5" in response.text
    assert [float(p.retail_price) for p in Product.objects.filter(sandbox=sandbox).order_by("id")] == [10, 11, 12]
    assert DCQuantity.objects.get(product=products[0], distribution_center_id=0).available_quantity == 3
    assert f'"ID": {products[1].id}' in response.text  # the GET part carries its JSON body


def test_batch_of_more_than_100_parts_is_refused(ca, sandbox):
    ca.generate(products=1)
    product = Product.objects.get(sandbox=sandbox)
    parts = [http_part("PATCH", f"Products({product.id})", {"Cost": 1}) for _ in range(101)]
    response = send(ca, batch_body(parts))
    assert response.status_code == 400
    assert "100" in response.json()["error"]["message"]
    assert Product.objects.get(pk=product.pk).cost != 1
    assert statuses(send(ca, batch_body(parts[:100]))) == [204] * 100


def test_export_inside_a_batch_is_refused_for_that_part(ca, sandbox):
    ca.generate(orders=1, products=1)
    order = Order.objects.get(sandbox=sandbox)
    product = Product.objects.get(sandbox=sandbox)
    response = send(ca, batch_body([http_part("POST", f"/v1/Orders({order.id})/Export", content_id=1),
                                    http_part("PATCH", f"Products({product.id})", {"Title": "ok"}, 2)]))
    assert statuses(response) == [400, 204]
    assert "Export" in response.text
    assert len(ca.get("Orders").json()["value"]) == 1  # still not exported


def test_every_part_counts_toward_the_rate_limit(ca, sandbox):
    ca.generate(products=1)
    product = Product.objects.get(sandbox=sandbox)
    before = sum(RateCounter.objects.filter(sandbox=sandbox).values_list("count", flat=True))
    send(ca, batch_body([http_part("PATCH", f"Products({product.id})", {"Cost": 2}) for _ in range(4)]))
    after = sum(RateCounter.objects.filter(sandbox=sandbox).values_list("count", flat=True))
    assert after - before == 5  # the batch itself and its 4 parts
    ca.configure(requests_per_window=after + 3)
    response = send(ca, batch_body([http_part("PATCH", f"Products({product.id})", {"Cost": 3}) for _ in range(4)]))
    assert statuses(response) == [204, 204, 429, 429]
    assert "Retry-After:" in response.text


def test_malformed_batches_are_400(ca):
    headers = {"Authorization": f"Bearer {ca.access_token}"}
    url = f"{ca.base}/v1/$batch"
    assert requests.post(url, data="x", headers={**headers, "Content-Type": "application/json"}).status_code == 400
    assert requests.post(url, data="garbage", headers={**headers, "Content-Type": "multipart/mixed"}).status_code == 400
    no_close = "--batch_1\r\nContent-Type: application/http\r\n\r\nGET Products HTTP/1.1\r\n\r\n"
    response = requests.post(url, data=no_close, headers={**headers,
                                                          "Content-Type": "multipart/mixed; boundary=batch_1"})
    assert response.status_code == 400
    bad_line = batch_body([], ["Content-Type: application/http\r\n\r\nnot a request line\r\n\r\n"])
    assert send(ca, bad_line).status_code == 400
    assert send(ca, "--batch_1--\r\n").status_code == 400
    nested = batch_body([], [http_part("POST", "$batch")])
    assert statuses(send(ca, nested)) == [400]
    unknown = batch_body([], [http_part("GET", "Widgets(1)")])
    assert statuses(send(ca, unknown)) == [404]
