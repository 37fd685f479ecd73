"""The catalog a channel syndicates into, over real HTTP: products in every language with features and categories,
option groups and values, combinations, specific prices with time windows; PATCH and GET-modify-PUT updates,
deactivation, lists with display / filter / sort / limit, PrestaShop's refusals in its own envelope, and what
goes with a deleted record."""

import warnings
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sandbox.prestashop import provision
from sandbox.prestashop.models import Product, SpecificPrice

from .conftest import APPS, error_code

pytestmark = pytest.mark.django_db(transaction=True, available_apps=APPS)

WALL = "%Y-%m-%d %H:%M:%S"


def parsed(response):
    return ET.fromstring(response.content)


def message(response):
    return parsed(response).find("errors/error/message").text


def langs(ids, **texts):
    """<language id=…> nodes for {iso: text}."""
    return "".join(f'<language id="{ids[iso]}"><![CDATA[{text}]]></language>' for iso, text in texts.items())


def language_ids(shop):
    rows = shop.json("languages", params={"display": "[id,iso_code]"})["languages"]
    return {row["iso_code"]: row["id"] for row in rows}


def send(shop, method, resource, singular, inner, expect):
    response = shop.send(method, resource, f"<prestashop><{singular}>{inner}</{singular}></prestashop>")
    assert response.status_code == expect, response.text
    return response


def post(shop, resource, singular, inner):
    return parsed(send(shop, "POST", resource, singular, inner, 201)).find(singular)


def by_lang(node, ids):
    """{iso: text} of a multi-language XML field."""
    iso_of = {str(v): k for k, v in ids.items()}
    return {iso_of[lang.get("id")]: lang.text or "" for lang in node.findall("language")}


def refused(response, status, code, text=None):
    assert (response.status_code, error_code(response)) == (status, code), response.text
    if text is not None:
        assert message(response) == text


class Catalog:
    """What one test builds up, step by step."""


def make_features_and_options(shop, cat):
    ids = cat.ids
    feature = post(shop, "product_features", "product_feature",
                   f"<name>{langs(ids, en='Material', fr='Matière')}</name>")
    cat.feature = feature.find("id").text
    value = post(shop, "product_feature_values", "product_feature_value",
                 f"<id_feature>{cat.feature}</id_feature><value>{langs(ids, en='Steel', fr='Acier')}</value>")
    cat.steel = value.find("id").text
    assert value.find("id_feature").get("{http://www.w3.org/1999/xlink}href").endswith(
        f"/product_features/{cat.feature}")
    assert by_lang(value.find("value"), ids) == {"en": "Steel", "fr": "Acier"}
    # A feature value needs its feature, and a value in the default language.
    refused(send(shop, "POST", "product_feature_values", "product_feature_value",
                 f"<id_feature>999999</id_feature><value>{langs(ids, en='X')}</value>", 400), 400, 85,
            'Validation error: "Property FeatureValue->id_feature is not valid"')
    refused(send(shop, "POST", "product_feature_values", "product_feature_value",
                 f"<id_feature>{cat.feature}</id_feature><value>{langs(ids, en='', fr='Acier')}</value>", 400),
            400, 85, 'Validation error: "Property FeatureValue->value is empty."')

    group = post(shop, "product_options", "product_option",
                 f"<is_color_group>0</is_color_group><group_type>select</group_type>"
                 f"<name>{langs(ids, en='Size', fr='Taille')}</name>"
                 f"<public_name>{langs(ids, en='Size', fr='Taille')}</public_name>")
    cat.size = group.find("id").text
    cat.small = post(shop, "product_option_values", "product_option_value",
                     f"<id_attribute_group>{cat.size}</id_attribute_group>"
                     f"<name>{langs(ids, en='Small', fr='Petit')}</name>").find("id").text
    cat.large = post(shop, "product_option_values", "product_option_value",
                     f"<id_attribute_group>{cat.size}</id_attribute_group>"
                     f"<name>{langs(ids, en='Large', fr='Grand')}</name>").find("id").text
    values = shop.xml(f"product_options/{cat.size}").findall(
        "product_option/associations/product_option_values/product_option_value/id")
    assert [v.text for v in values] == [cat.small, cat.large]
    refused(send(shop, "POST", "product_options", "product_option",
                 f"<name>{langs(ids, en='Colour')}</name><public_name>{langs(ids, en='Colour')}</public_name>", 400),
            400, 41, 'parameter "group_type" required')


PRODUCT = """<reference>TIMS-1001</reference><ean13>4006381333931</ean13><upc>036000291452</upc>
<mpn>FB-1001</mpn><price>19.9</price><wholesale_price>8.25</wholesale_price><weight>0.35</weight>
<width>4</width><height>21.5</height><depth>2</depth><active>1</active><id_category_default>{home}</id_category_default>
<name>{name}</name><description>{description}</description><description_short>{short}</description_short>
<link_rewrite>{rewrite}</link_rewrite>
<associations><categories><category><id>{home}</id></category></categories>
<product_features><product_feature><id>{feature}</id><id_feature_value>{steel}</id_feature_value></product_feature>
</product_features></associations>"""


def create_product(shop, cat):
    ids = cat.ids
    cat.home = str(provision.home_category(shop.sandbox))
    body = PRODUCT.format(
        home=cat.home, feature=cat.feature, steel=cat.steel,
        name=langs(ids, en="Flux brush", fr="Brosse à flux"),
        description=langs(ids, en="<p>Soft <b>bristles</b></p>", fr="<p>Poils <b>doux</b></p>"),
        short=langs(ids, en="Soft bristles", fr="Poils doux"),
        rewrite=langs(ids, en="Flux Brush!"))  # invalid in English, missing in French: POST mends both
    product = post(shop, "products", "product", body)
    cat.product = product.find("id").text
    assert by_lang(product.find("name"), ids) == {"en": "Flux brush", "fr": "Brosse à flux"}
    assert by_lang(product.find("link_rewrite"), ids) == {"en": "flux-brush", "fr": "brosse-a-flux"}
    assert by_lang(product.find("description"), ids)["en"] == "<p>Soft <b>bristles</b></p>"
    for name, text in (("reference", "TIMS-1001"), ("ean13", "4006381333931"), ("upc", "036000291452"),
                       ("mpn", "FB-1001"), ("price", "19.900000"), ("wholesale_price", "8.250000"),
                       ("weight", "0.350000"), ("height", "21.500000"), ("active", "1"), ("condition", "new"),
                       ("visibility", "both"), ("quantity", "0")):
        assert product.find(name).text == text, name
    local_now = datetime.now(ZoneInfo("Europe/Paris")).replace(tzinfo=None)
    assert abs(datetime.strptime(product.find("date_upd").text, WALL) - local_now) < timedelta(minutes=2)
    associations = product.find("associations")
    assert [c.text for c in associations.findall("categories/category/id")] == [cat.home]
    feature = associations.find("product_features/product_feature")
    assert (feature.find("id").text, feature.find("id_feature_value").text) == (cat.feature, cat.steel)
    assert associations.find("product_features").get("nodeType") == "product_feature"
    assert len(associations.findall("stock_availables/stock_available")) == 1

    # A feature value of another feature, an unknown category: refused before anything is saved.
    before = Product.objects.filter(sandbox=shop.sandbox).count()
    wrong = body.replace(f"<id>{cat.feature}</id><id_feature_value>", "<id>999999</id><id_feature_value>")
    refused(send(shop, "POST", "products", "product", wrong, 400), 400, 85)
    wrong = body.replace(f"<category><id>{cat.home}</id>", "<category><id>999999</id>")
    refused(send(shop, "POST", "products", "product", wrong, 400), 400, 85)
    assert Product.objects.filter(sandbox=shop.sandbox).count() == before


def add_combinations(shop, cat):
    def combination(reference, impact, value, default):
        return post(shop, "combinations", "combination",
                    f"<id_product>{cat.product}</id_product><reference>{reference}</reference>"
                    f"<price>{impact}</price><minimal_quantity>1</minimal_quantity><default_on>{default}</default_on>"
                    f"<ean13>4006381333948</ean13><associations><product_option_values><product_option_value>"
                    f"<id>{value}</id></product_option_value></product_option_values></associations>")

    small = combination("TIMS-1001-S", "0", cat.small, 1)
    large = combination("TIMS-1001-L", "2.5", cat.large, 0)
    cat.combination_s, cat.combination_l = small.find("id").text, large.find("id").text
    assert large.find("price").text == "2.500000"
    assert large.find("associations/product_option_values/product_option_value/id").text == cat.large
    product = shop.xml(f"products/{cat.product}").find("product")
    assert [c.text for c in product.findall("associations/combinations/combination/id")] == [
        cat.combination_s, cat.combination_l]
    assert product.find("id_default_combination").text == cat.combination_s
    # The product lists the option values its combinations use, each once (getWsProductOptionValues, read-only).
    assert [v.text for v in product.findall("associations/product_option_values/product_option_value/id")] == [
        cat.small, cat.large]
    assert len(product.findall("associations/stock_availables/stock_available")) == 3
    # A price impact may be negative; a minimal quantity is required; an unknown option value is refused.
    negative = combination("TIMS-1001-XS", "-1.5", cat.small, 0)
    assert negative.find("price").text == "-1.500000"
    assert shop.send("DELETE", f"combinations/{negative.find('id').text}", "").status_code == 200
    refused(send(shop, "POST", "combinations", "combination",
                 f"<id_product>{cat.product}</id_product><reference>X</reference>", 400),
            400, 41, 'parameter "minimal_quantity" required')
    refused(send(shop, "POST", "combinations", "combination",
                 f"<id_product>{cat.product}</id_product><minimal_quantity>1</minimal_quantity><associations>"
                 "<product_option_values><product_option_value><id>999999</id></product_option_value>"
                 "</product_option_values></associations>", 400), 400, 85)
    listed = shop.json("combinations", params={"filter[id_product]": f"[{cat.product}]", "sort": "[reference_DESC]",
                                               "display": "[id,reference,price]"})["combinations"]
    assert [row["reference"] for row in listed] == ["TIMS-1001-S", "TIMS-1001-L"]
    assert listed[1]["price"] == "2.500000"


SPECIFIC_PRICE = """<id_product>{product}</id_product><id_product_attribute>{combination}</id_product_attribute>
<id_shop>0</id_shop><id_cart>0</id_cart><id_currency>0</id_currency><id_country>0</id_country><id_group>0</id_group>
<id_customer>0</id_customer><price>-1</price><from_quantity>1</from_quantity><reduction>{reduction}</reduction>
<reduction_tax>1</reduction_tax><reduction_type>{kind}</reduction_type><from>{start}</from><to>{end}</to>"""


def set_specific_prices(shop, cat):
    window = dict(product=cat.product, combination=cat.combination_l, reduction="0.2", kind="percentage",
                  start="2026-12-24 00:00:00", end="2026-12-31 23:59:59")
    promo = post(shop, "specific_prices", "specific_price", SPECIFIC_PRICE.format(**window))
    cat.promo = promo.find("id").text
    assert (promo.find("from").text, promo.find("to").text) == ("2026-12-24 00:00:00", "2026-12-31 23:59:59")
    assert (promo.find("reduction").text, promo.find("reduction_type").text, promo.find("price").text) == (
        "0.200000", "percentage", "-1.000000")
    assert promo.find("id_product").get("{http://www.w3.org/1999/xlink}href").endswith(f"/products/{cat.product}")
    forever = post(shop, "specific_prices", "specific_price", SPECIFIC_PRICE.format(
        **{**window, "combination": 0, "reduction": "3", "kind": "amount", "start": "0000-00-00 00:00:00",
           "end": "0000-00-00 00:00:00"}))
    cat.forever = forever.find("id").text
    assert (forever.find("from").text, forever.find("to").text) == ("0000-00-00 00:00:00", "0000-00-00 00:00:00")

    listed = shop.json("specific_prices", params={"filter[id_product]": f"[{cat.product}]", "display": "full",
                                                  "sort": "[id_ASC]"})["specific_prices"]
    assert [row["id"] for row in listed] == [int(cat.promo), int(cat.forever)]
    open_ended = shop.json("specific_prices", params={"filter[to]": "[0000-00-00 00:00:00]"})["specific_prices"]
    assert [row["id"] for row in open_ended] == [int(cat.forever)]
    running = shop.json("specific_prices", params={"filter[from]": "[2026-12-01,2026-12-24 23:59:59]"})
    assert [row["id"] for row in running["specific_prices"]] == [int(cat.promo)]

    # Move the window with PATCH; refusals name the property as PrestaShop does.
    patch = (f"<prestashop><specific_price><id>{cat.promo}</id><to>2027-01-06 23:59:59</to></specific_price>"
             "</prestashop>")
    moved = shop.send("PATCH", f"specific_prices/{cat.promo}", patch)
    assert moved.status_code == 200 and parsed(moved).find("specific_price/to").text == "2027-01-06 23:59:59"
    assert parsed(moved).find("specific_price/from").text == "2026-12-24 00:00:00"
    bad = SPECIFIC_PRICE.format(**{**window, "kind": "fixed"})
    refused(send(shop, "POST", "specific_prices", "specific_price", bad, 400), 400, 85,
            'Validation error: "Property SpecificPrice->reduction_type is not valid"')
    bad = SPECIFIC_PRICE.format(**{**window, "start": "2026-13-45 00:00:00"})
    refused(send(shop, "POST", "specific_prices", "specific_price", bad, 400), 400, 85,
            'Validation error: "Property SpecificPrice->from is not valid"')
    bad = SPECIFIC_PRICE.format(**window).replace("<to>2026-12-31 23:59:59</to>", "")
    refused(send(shop, "POST", "specific_prices", "specific_price", bad, 400), 400, 41, 'parameter "to" required')
    bad = SPECIFIC_PRICE.format(**{**window, "reduction": "-5"})
    refused(send(shop, "POST", "specific_prices", "specific_price", bad, 400), 400, 85)
    bad = SPECIFIC_PRICE.format(**{**window, "product": "999999", "combination": 0})
    refused(send(shop, "POST", "specific_prices", "specific_price", bad, 400), 400, 85,
            'Validation error: "Property SpecificPrice->id_product is not valid"')
    synopsis = shop.xml("specific_prices", params={"schema": "synopsis"}).find("specific_price")
    assert synopsis.find("from").get("required") == "true" and synopsis.find("from").get("format") == "isDateFormat"
    assert synopsis.find("reduction_type").get("format") == "isReductionType"


def update_product(shop, cat):
    ids = cat.ids
    earlier = datetime(2026, 1, 2, 3, 4, 5)
    Product.objects.filter(pk=cat.product).update(date_upd=earlier.replace(tzinfo=ZoneInfo("UTC")))
    # PATCH (8.x) touches only what it sends: associations and the other language stay.
    patch = (f"<prestashop><product><id>{cat.product}</id><price>21.5</price>"
             f"<description_short>{langs(ids, en='Softer bristles')}</description_short></product></prestashop>")
    response = shop.send("PATCH", f"products/{cat.product}", patch)
    assert response.status_code == 200, response.text
    product = parsed(response).find("product")
    assert product.find("price").text == "21.500000"
    assert by_lang(product.find("description_short"), ids) == {"en": "Softer bristles", "fr": "Poils doux"}
    assert len(product.findall("associations/combinations/combination")) == 2
    assert datetime.strptime(product.find("date_upd").text, WALL) > earlier
    # A poller by date_upd sees the change.
    polled = shop.json("products", params={"filter[date_upd]": f">[{earlier:%Y-%m-%d %H:%M:%S}]", "date": "1",
                                           "sort": "[date_upd_ASC]", "display": "[id,date_upd]"})["products"]
    assert int(cat.product) in [row["id"] for row in polled]

    # GET-modify-PUT: the read-only fields must go; the associations sent back are kept as they are.
    root = ET.fromstring(shop.get(f"products/{cat.product}").content)
    node = root.find("product")
    for read_only in ("quantity", "manufacturer_name"):
        node.remove(node.find(read_only))
    node.find("name").find(f"language[@id='{ids['en']}']").text = "Flux brush, large"
    node.find("reference").text = "TIMS-1001B"
    response = shop.send("PUT", f"products/{cat.product}", ET.tostring(root, encoding="unicode"))
    assert response.status_code == 200, response.text
    product = parsed(response).find("product")
    assert by_lang(product.find("name"), ids) == {"en": "Flux brush, large", "fr": "Brosse à flux"}
    assert product.find("reference").text == "TIMS-1001B"
    assert len(product.findall("associations/combinations/combination")) == 2
    assert product.find("associations/product_features/product_feature/id_feature_value").text == cat.steel

    # Refusals on PUT: a bad link_rewrite is only mended on POST; price is required; a price must be a number.
    rewrite = node.find("link_rewrite").find(f"language[@id='{ids['en']}']")
    rewrite.text = "flux brush!"
    refused(shop.send("PUT", f"products/{cat.product}", ET.tostring(root, encoding="unicode")), 400, 85,
            'Validation error: "Property Product->link_rewrite is not valid"')
    rewrite.text = "flux-brush-large"
    price = node.find("price")
    price.text = "12,50"
    refused(shop.send("PUT", f"products/{cat.product}", ET.tostring(root, encoding="unicode")), 400, 85,
            'Validation error: "Property Product->price is not valid"')
    node.remove(price)
    refused(shop.send("PUT", f"products/{cat.product}", ET.tostring(root, encoding="unicode")), 400, 41,
            'parameter "price" required')

    # Deactivate (what the portal does when TIMS deactivates an item) and find it by filter.
    patch = f"<prestashop><product><id>{cat.product}</id><active>0</active></product></prestashop>"
    assert shop.send("PATCH", f"products/{cat.product}", patch).status_code == 200
    inactive = shop.json("products", params={"filter[active]": "[0]", "display": "[id,reference,active]"})
    assert inactive["products"] == [{"id": int(cat.product), "reference": "TIMS-1001B", "active": "0"}]


def read_back(shop, cat):
    full = shop.json("products", params={"display": "full", "filter[reference]": "[TIMS-1001B]"})["products"]
    assert len(full) == 1
    product = full[0]
    assert product["name"] == [{"id": str(cat.ids["en"]), "value": "Flux brush, large"},
                               {"id": str(cat.ids["fr"]), "value": "Brosse à flux"}]
    assert product["associations"]["product_features"] == [{"id": cat.feature, "id_feature_value": cat.steel}]
    assert product["associations"]["categories"] == [{"id": cat.home}]
    assert [c["id"] for c in product["associations"]["combinations"]] == [cat.combination_s, cat.combination_l]
    combos = shop.json("combinations", params={"display": "full", "filter[id_product]": f"[{cat.product}]"})
    assert [c["associations"]["product_option_values"] for c in combos["combinations"]] == [
        [{"id": cat.small}], [{"id": cat.large}]]
    chosen = shop.json("products", params={"display": "[id,name,associations[product_features[id_feature_value]]]",
                                           "filter[name]": "%[brosse]%"})["products"]
    assert [row["id"] for row in chosen] == [int(cat.product)]
    assert "price" not in chosen[0]
    values = shop.json("product_feature_values", params={"filter[id_feature]": f"[{cat.feature}]", "display": "full"})
    assert values["product_feature_values"][0]["value"][1]["value"] == "Acier"
    options = shop.json("product_option_values", params={"filter[id_attribute_group]": f"[{cat.size}]",
                                                         "sort": "[id_DESC]", "limit": "1"})
    assert options["product_option_values"] == [{"id": int(cat.large)}]
    blank = shop.xml("products", params={"schema": "blank"}).find("product/associations")
    assert blank.find("product_features/product_feature/id_feature_value") is not None
    synopsis = shop.xml("products", params={"schema": "synopsis"}).find("product")
    assert synopsis.find("price").get("required") == "true" and synopsis.find("price").get("format") == "isPrice"
    assert synopsis.find("name").get("required") is None  # optional on 8.x (required on 1.7)
    assert synopsis.find("link_rewrite").get("format") == "isLinkRewrite"
    assert shop.get("product_features/999999").status_code == 404 and shop.get("product_features/999999").text == ""


def refusals_on_create(shop, cat):
    ids = cat.ids
    base = PRODUCT.format(home=cat.home, feature=cat.feature, steel=cat.steel, name=langs(ids, en="Tip cleaner"),
                          description="", short="", rewrite="").replace("TIMS-1001", "TIMS-2002")
    before = Product.objects.filter(sandbox=shop.sandbox).count()
    refused(send(shop, "POST", "products", "product", base.replace("<price>19.9</price>", ""), 400), 400, 41,
            'parameter "price" required')
    refused(send(shop, "POST", "products", "product", base.replace("<price>19.9</price>", "<price>abc</price>"),
                 400), 400, 85, 'Validation error: "Property Product->price is not valid"')
    refused(send(shop, "POST", "products", "product", base.replace("<price>19.9</price>", "<price>1e3</price>"),
                 400), 400, 85)
    refused(send(shop, "POST", "products", "product", base.replace("<price>19.9</price>", "<price>-4</price>"),
                 400), 400, 85)
    refused(send(shop, "POST", "products", "product", base.replace("Tip cleaner", "Tip <cleaner>"), 400), 400, 85,
            'Validation error: "Property Product->name is not valid"')
    refused(send(shop, "POST", "products", "product", base.replace("<ean13>4006381333931", "<ean13>40063813339X"),
                 400), 400, 85, 'Validation error: "Property Product->ean13 is not valid"')
    refused(send(shop, "POST", "products", "product", base.replace("<weight>0.35", "<weight>-1"), 400), 400, 85)
    long_name = langs(ids, en="x" * 129)
    refused(send(shop, "POST", "products", "product", base.replace(langs(ids, en="Tip cleaner"), long_name), 400),
            400, 85, 'Validation error: "The length of property Product->name is currently 129 chars. It must be '
                     'between 0 and 128 chars."')
    script = base.replace("<description></description>",
                          f"<description>{langs(ids, en='<p onclick=alert(1)>x</p>')}</description>")
    refused(send(shop, "POST", "products", "product", script, 400), 400, 85,
            'Validation error: "Property Product->description is not valid"')
    refused(send(shop, "POST", "products", "product", base.replace("<active>1</active>",
                                                                   "<active>1</active><condition>mint</condition>"),
                 400), 400, 85, 'Validation error: "Property Product->condition has a bad value (allowed values are: '
                                'new, used, refurbished)."')
    as_json = shop.send("POST", "products", "<prestashop><product><price>x</price></product></prestashop>",
                        params={"output_format": "JSON"})
    assert as_json.status_code == 400
    assert as_json.json() == {"errors": [{"code": 85, "message": 'Validation error: "Property Product->price is not '
                                                                 'valid"'}]}
    assert Product.objects.filter(sandbox=shop.sandbox).count() == before
    # On 8.x a product needs no name (the new product page makes drafts); 1.7 requires it.
    nameless = shop.send("POST", "products", "<prestashop><product><price>5</price></product></prestashop>")
    assert nameless.status_code == 201, nameless.text
    assert shop.send("DELETE", f"products/{parsed(nameless).find('product/id').text}", "").status_code == 200


def deletes_cascade(shop, cat):
    # Deleting an option value deletes the combinations made with it, and their specific prices.
    assert shop.send("DELETE", f"product_option_values/{cat.large}", "").status_code == 200
    assert shop.get(f"combinations/{cat.combination_l}").status_code == 404
    assert not SpecificPrice.objects.filter(pk=cat.promo).exists()
    product = shop.xml(f"products/{cat.product}").find("product")
    assert [c.text for c in product.findall("associations/combinations/combination/id")] == [cat.combination_s]
    assert [v.text for v in product.findall("associations/product_option_values/product_option_value/id")] == [
        cat.small]
    # An empty <combinations/> in a write deletes the product's combinations (Product::setWsCombinations).
    body = (f"<prestashop><product><id>{cat.product}</id><associations><combinations/></associations></product>"
            "</prestashop>")
    assert shop.send("PATCH", f"products/{cat.product}", body).status_code == 200
    assert shop.get(f"combinations/{cat.combination_s}").status_code == 404
    assert shop.send("DELETE", f"products/{cat.product}", "").status_code == 200
    assert shop.get("specific_prices", params={"filter[id_product]": f"[{cat.product}]",
                                               "output_format": "JSON"}).text == "[]"
    assert shop.send("DELETE", f"product_features/{cat.feature}", "").status_code == 200
    assert shop.get(f"product_feature_values/{cat.steel}").status_code == 404


def one_language(shop, cat):
    """A shop with one active language answers multi-language fields as plain strings in JSON."""
    provision.configure(shop.sandbox, languages=["en"])
    product = shop.json(f"products/{cat.product}")["product"]
    assert product["name"] == "Flux brush, large" and product["link_rewrite"] == "flux-brush"
    provision.configure(shop.sandbox, languages=["en", "fr"])


def version_17(shop, cat):
    provision.configure(shop.sandbox, version="1.7.8.11")
    assert shop.xml("products", params={"schema": "synopsis"}).find("product/name").get("required") == "true"
    # saveEntityFromXml's "required" (41) skips multi-language fields: validateFieldsLang finds the name empty.
    refused(shop.send("POST", "products", "<prestashop><product><price>5</price></product></prestashop>"), 400, 85,
            'Validation error: "Property Product->name is empty."')
    created = post(shop, "products", "product", f"<price>5</price><name>{langs(cat.ids, en='Solder')}</name>")
    assert by_lang(created.find("link_rewrite"), cat.ids)["en"] == "solder"
    patch = f"<prestashop><product><id>{created.find('id').text}</id><active>0</active></product></prestashop>"
    refused(shop.send("PATCH", f"products/{created.find('id').text}", patch), 405, 23)


def prestapyt_adds_a_product(shop, cat):
    """A real client, unchanged: prestapyt builds the language lists and reads them back."""
    prestapyt = pytest.importorskip("prestapyt")
    client = prestapyt.PrestaShopWebServiceDict(shop.api.rstrip("/"), shop.key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        name = {"language": [{"attrs": {"id": str(cat.ids["en"])}, "value": "Desoldering wick"},
                             {"attrs": {"id": str(cat.ids["fr"])}, "value": "Tresse à dessouder"}]}
        created = client.add("products", {"product": {"price": "4.5", "reference": "TIMS-3003", "name": name,
                                                      "active": "1"}})["prestashop"]["product"]
        product_id = int(created["id"])
        names = client.get("products", product_id)["product"]["name"]["language"]
        assert [n["value"] for n in names] == ["Desoldering wick", "Tresse à dessouder"]
        promo = client.add("specific_prices", {"specific_price": {
            "id_product": product_id, "id_shop": 0, "id_cart": 0, "id_currency": 0, "id_country": 0, "id_group": 0,
            "id_customer": 0, "price": "-1", "from_quantity": 1, "reduction": "0.5", "reduction_tax": 1,
            "reduction_type": "amount", "from": "2026-12-01 00:00:00", "to": "0000-00-00 00:00:00"}})
        assert promo["prestashop"]["specific_price"]["to"] == "0000-00-00 00:00:00"
        assert client.search("specific_prices", options={"filter[id_product]": f"[{product_id}]"})


def test_catalog_round_trip(shop):
    cat = Catalog()
    cat.ids = language_ids(shop)
    make_features_and_options(shop, cat)
    create_product(shop, cat)
    add_combinations(shop, cat)
    set_specific_prices(shop, cat)
    update_product(shop, cat)
    read_back(shop, cat)
    refusals_on_create(shop, cat)
    prestapyt_adds_a_product(shop, cat)
    one_language(shop, cat)
    deletes_cascade(shop, cat)
    version_17(shop, cat)  # last: it turns the shop into PrestaShop 1.7


def test_generated_sizes_are_option_values(filled):
    """Generated products with combinations come in sizes linked to a "Size" option group's S and L values."""
    groups = filled.json("product_options", params={"display": "full", "filter[name]": "[Size]"})["product_options"]
    assert len(groups) == 1
    values = {row["name"][0]["value"]: str(row["id"]) for row in filled.json(
        "product_option_values", params={"display": "full", "filter[id_attribute_group]": f"[{groups[0]['id']}]"})[
        "product_option_values"]}
    assert set(values) == {"S", "L"}
    combination = filled.json("combinations", params={"display": "full", "filter[reference]": "%[-L]"})[
        "combinations"][0]
    assert combination["associations"]["product_option_values"] == [{"id": values["L"]}]
    product = filled.json("products", params={"display": "full", "filter[id]": f"[{combination['id_product']}]"})[
        "products"][0]
    assert product["associations"]["product_option_values"] == [{"id": values["S"]}, {"id": values["L"]}]
    assert product["associations"]["categories"] == [{"id": str(provision.home_category(filled.sandbox))}]
