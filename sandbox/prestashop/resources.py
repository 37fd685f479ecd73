"""What each webservice resource looks like: its fields (type, required, read-only, max length, multi-language,
foreign key target) and associations. Models, rendering, parsing and schemas are all derived from this table, so
one place says what the sandbox's PrestaShop exposes."""

from dataclasses import dataclass, field

# Field types and the PrestaShop validator name shown as `format=` in schema=synopsis.
FORMATS = {"id": "isUnsignedId", "int": "isUnsignedInt", "bool": "isBool", "price": "isPrice", "float": "isFloat",
           "string": "isGenericName", "datetime": "isDate", "date": "isBirthDate", "lang": "isGenericName"}


@dataclass(frozen=True)
class Field:
    name: str
    type: str = "string"  # id (a foreign key), int, bool, price, float, string, datetime, date, lang
    required: bool = False
    read_only: bool = False
    max_length: int | None = None
    fk: str | None = None  # the resource a foreign key points to (rendered with xlink:href)
    format: str | None = None  # overrides FORMATS, e.g. isEmail

    @property
    def lang(self):
        return self.type == "lang"

    @property
    def validator(self):
        return self.format or FORMATS[self.type]


@dataclass(frozen=True)
class Association:
    name: str  # order_rows
    node_type: str  # order_row
    model: str  # the model holding the rows
    link: str  # that model's column naming the parent id
    fields: tuple  # the Fields shown for each row
    virtual_entity: bool = False  # rows have no resource of their own (order rows)
    api: str | None = None  # else the resource each row links to


@dataclass(frozen=True)
class Resource:
    name: str  # orders
    singular: str  # order
    model: str  # Order
    description: str
    fields: tuple
    associations: tuple = ()
    forbidden_methods: frozenset = frozenset()
    timestamps: tuple = ()  # date_add / date_upd kept by the shop itself
    plural: str = ""  # the list's element when it is not the resource's name (order_slip → order_slips)

    @property
    def list_node(self):
        return self.plural or self.name

    @property
    def field_map(self):
        return {f.name: f for f in self.fields}

    def association(self, name):
        return next((a for a in self.associations if a.name == name), None)


def _fields(*items):
    return tuple(items)


ID = Field("id", "int", read_only=True)
DATE_ADD = Field("date_add", "datetime")
DATE_UPD = Field("date_upd", "datetime")
SHOP = (Field("id_shop", "id", fk="shops"), Field("id_shop_group", "id", fk="shop_groups"))

LANGUAGES = Resource("languages", "language", "Language", "Shop languages", _fields(
    ID, Field("name", required=True, max_length=32), Field("iso_code", required=True, max_length=2,
                                                           format="isLanguageIsoCode"),
    Field("language_code", max_length=5), Field("active", "bool"), Field("date_format_lite", max_length=32),
    Field("date_format_full", max_length=32),
), forbidden_methods=frozenset({"POST", "PUT", "PATCH", "DELETE"}))

COUNTRIES = Resource("countries", "country", "Country", "The countries", _fields(
    ID, Field("id_zone", "id", required=True, fk="zones"), Field("id_currency", "id", fk="currencies"),
    Field("call_prefix", "int"), Field("iso_code", required=True, max_length=3, format="isLanguageIsoCode"),
    Field("active", "bool"), Field("contains_states", "bool"), Field("need_identification_number", "bool"),
    Field("need_zip_code", "bool"), Field("zip_code_format", max_length=12), Field("display_tax_label", "bool"),
    Field("name", "lang", required=True, max_length=64),
))

CURRENCIES = Resource("currencies", "currency", "Currency", "The currencies", _fields(
    ID, Field("names", "lang", max_length=255), Field("name", required=True, max_length=255),
    Field("symbol", "lang", max_length=255), Field("iso_code", required=True, max_length=3,
                                                   format="isLanguageIsoCode"),
    Field("numeric_iso_code", max_length=3), Field("precision", "int"),
    Field("conversion_rate", "float", required=True), Field("deleted", "bool"), Field("active", "bool"),
))

CARRIERS = Resource("carriers", "carrier", "Carrier", "The Carriers", _fields(
    ID, Field("deleted", "bool"), Field("is_module", "bool"), Field("id_tax_rules_group", "id", fk="tax_rule_groups"),
    Field("id_reference", "int"), Field("name", required=True, max_length=64, format="isCarrierName"),
    Field("active", "bool", required=True), Field("is_free", "bool"),
    Field("url", max_length=255, format="isAbsoluteUrl"),
    Field("shipping_handling", "bool"), Field("range_behavior", "bool"), Field("max_weight", "float"),
    Field("grade", "int"), Field("delay", "lang", required=True, max_length=512),
))

ORDER_STATES = Resource("order_states", "order_state", "OrderState", "The Order statuses", _fields(
    ID, Field("unremovable", "bool"), Field("delivery", "bool"), Field("hidden", "bool"), Field("send_email", "bool"),
    Field("module_name", max_length=255), Field("invoice", "bool"), Field("color", max_length=32, format="isColor"),
    Field("logable", "bool"), Field("shipped", "bool"), Field("paid", "bool"), Field("pdf_delivery", "bool"),
    Field("pdf_invoice", "bool"), Field("deleted", "bool"), Field("name", "lang", required=True, max_length=64),
    Field("template", "lang", max_length=64),
))

CUSTOMERS = Resource("customers", "customer", "Customer", "The e-shop's customers", _fields(
    ID, Field("id_default_group", "id", fk="groups"), Field("id_lang", "id", fk="languages"),
    Field("newsletter_date_add", "datetime"), Field("ip_registration_newsletter", max_length=15),
    Field("last_passwd_gen", "datetime"), Field("secure_key", max_length=32, format="isMd5"),
    Field("deleted", "bool"), Field("passwd", required=True, max_length=255, format="isPasswd"),
    Field("lastname", required=True, max_length=255, format="isCustomerName"),
    Field("firstname", required=True, max_length=255, format="isCustomerName"),
    Field("email", required=True, max_length=255, format="isEmail"), Field("id_gender", "id", fk="genders"),
    Field("birthday", "date"), Field("newsletter", "bool"), Field("optin", "bool"),
    Field("website", max_length=128, format="isUrl"), Field("company", max_length=255),
    Field("siret", max_length=14, format="isGenericName"), Field("ape", max_length=5),
    Field("outstanding_allow_amount", "price"), Field("show_public_prices", "bool"), Field("id_risk", "int"),
    Field("max_payment_days", "int"), Field("active", "bool"), Field("note", max_length=65000, format="isCleanHtml"),
    Field("is_guest", "bool"), *SHOP, DATE_ADD, DATE_UPD,
), timestamps=("date_add", "date_upd"))

ADDRESSES = Resource("addresses", "address", "Address", "The Customer, Brand and Customer addresses", _fields(
    ID, Field("id_customer", "id", fk="customers"), Field("id_manufacturer", "id", fk="manufacturers"),
    Field("id_supplier", "id", fk="suppliers"), Field("id_warehouse", "id", fk="warehouses"),
    Field("id_country", "id", required=True, fk="countries"), Field("id_state", "id", fk="states"),
    Field("alias", required=True, max_length=32), Field("company", max_length=255),
    Field("lastname", required=True, max_length=255, format="isName"),
    Field("firstname", required=True, max_length=255, format="isName"),
    Field("vat_number", max_length=32), Field("address1", required=True, max_length=128, format="isAddress"),
    Field("address2", max_length=128, format="isAddress"), Field("postcode", max_length=12, format="isPostCode"),
    Field("city", required=True, max_length=64, format="isCityName"), Field("other", max_length=300),
    Field("phone", max_length=32, format="isPhoneNumber"), Field("phone_mobile", max_length=32, format="isPhoneNumber"),
    Field("dni", max_length=16), Field("deleted", "bool"), DATE_ADD, DATE_UPD,
), timestamps=("date_add", "date_upd"))

PRODUCTS = Resource("products", "product", "Product", "The products", _fields(
    ID, Field("id_manufacturer", "id", fk="manufacturers"), Field("id_supplier", "id", fk="suppliers"),
    Field("id_category_default", "id", fk="categories"), Field("id_default_combination", "id", fk="combinations"),
    Field("id_tax_rules_group", "id", fk="tax_rule_groups"), Field("type", max_length=32),
    Field("manufacturer_name", read_only=True), Field("quantity", "int", read_only=True),
    Field("reference", max_length=64, format="isReference"), Field("supplier_reference", max_length=64),
    Field("ean13", max_length=13, format="isEan13"), Field("upc", max_length=12, format="isUpc"),
    Field("mpn", max_length=40), Field("minimal_quantity", "int"), Field("price", "price", required=True),
    Field("wholesale_price", "price"), Field("weight", "float"), Field("active", "bool"),
    Field("available_for_order", "bool"), Field("show_price", "bool"), Field("state", "int"),
    Field("product_type", max_length=32), DATE_ADD, DATE_UPD,
    Field("name", "lang", required=True, max_length=128, format="isCatalogName"),
    Field("description", "lang", max_length=65000, format="isCleanHtml"),
    Field("description_short", "lang", max_length=65000, format="isCleanHtml"),
    Field("link_rewrite", "lang", max_length=128, format="isLinkRewrite"),
), associations=(
    Association("combinations", "combination", "Combination", "id_product", (ID,), api="combinations"),
    Association("stock_availables", "stock_available", "StockAvailable", "id_product",
                (ID, Field("id_product_attribute", "id", fk="combinations")), api="stock_availables"),
), timestamps=("date_add", "date_upd"))

COMBINATIONS = Resource("combinations", "combination", "Combination", "The product combinations", _fields(
    ID, Field("id_product", "id", required=True, fk="products"), Field("location", max_length=255),
    Field("ean13", max_length=13, format="isEan13"), Field("upc", max_length=12, format="isUpc"),
    Field("mpn", max_length=40), Field("reference", max_length=64, format="isReference"),
    Field("supplier_reference", max_length=64), Field("wholesale_price", "price"),
    Field("price", "float", format="isNegativePrice"), Field("ecotax", "price"), Field("weight", "float"),
    Field("unit_price_impact", "float"), Field("minimal_quantity", "int", required=True), Field("default_on", "bool"),
    Field("available_date", "date"),
))

STOCK_AVAILABLES = Resource("stock_availables", "stock_available", "StockAvailable", "Available quantities", _fields(
    ID, Field("id_product", "id", required=True, fk="products"),
    Field("id_product_attribute", "id", required=True, fk="combinations"), *SHOP,
    Field("quantity", "int", required=True, format="isInt"), Field("depends_on_stock", "bool", required=True),
    Field("out_of_stock", "int", required=True, format="isInt"), Field("location", max_length=255),
), forbidden_methods=frozenset({"POST", "DELETE"}))

ORDER_ROW_FIELDS = (
    ID, Field("product_id", "id", fk="products"), Field("product_attribute_id", "id", fk="combinations"),
    Field("product_quantity", "int"), Field("product_name", max_length=255), Field("product_reference", max_length=64),
    Field("product_ean13", max_length=13), Field("product_isbn", max_length=32), Field("product_upc", max_length=12),
    Field("product_price", "price"), Field("id_customization", "id", fk="customizations"),
    Field("unit_price_tax_incl", "price"), Field("unit_price_tax_excl", "price"),
)

ORDERS = Resource("orders", "order", "Order", "The Customers orders", _fields(
    ID, Field("id_address_delivery", "id", required=True, fk="addresses"),
    Field("id_address_invoice", "id", required=True, fk="addresses"), Field("id_cart", "id", required=True, fk="carts"),
    Field("id_currency", "id", required=True, fk="currencies"), Field("id_lang", "id", required=True, fk="languages"),
    Field("id_customer", "id", required=True, fk="customers"), Field("id_carrier", "id", required=True, fk="carriers"),
    Field("current_state", "id", fk="order_states"), Field("module", required=True, max_length=255,
                                                           format="isModuleName"),
    Field("invoice_number", "int"), Field("invoice_date", "datetime"), Field("delivery_number", "int"),
    Field("delivery_date", "datetime"), Field("valid", "bool"), DATE_ADD, DATE_UPD,
    Field("shipping_number", max_length=64, format="isTrackingNumber"), Field("note", max_length=65000),
    *SHOP, Field("secure_key", max_length=32, format="isMd5"), Field("payment", required=True, max_length=255),
    Field("recyclable", "bool"), Field("gift", "bool"), Field("gift_message", max_length=65000, format="isMessage"),
    Field("mobile_theme", "bool"), Field("total_discounts", "price"), Field("total_discounts_tax_incl", "price"),
    Field("total_discounts_tax_excl", "price"), Field("total_paid", "price", required=True),
    Field("total_paid_tax_incl", "price"), Field("total_paid_tax_excl", "price"),
    Field("total_paid_real", "price", required=True), Field("total_products", "price", required=True),
    Field("total_products_wt", "price", required=True), Field("total_shipping", "price"),
    Field("total_shipping_tax_incl", "price"), Field("total_shipping_tax_excl", "price"),
    Field("carrier_tax_rate", "float"), Field("total_wrapping", "price"), Field("total_wrapping_tax_incl", "price"),
    Field("total_wrapping_tax_excl", "price"), Field("round_mode", "int"), Field("round_type", "int"),
    Field("conversion_rate", "float", required=True), Field("reference", max_length=9),
), associations=(
    Association("order_rows", "order_row", "OrderRow", "order_id", ORDER_ROW_FIELDS, virtual_entity=True),
), timestamps=("date_add", "date_upd"))

ORDER_HISTORIES = Resource("order_histories", "order_history", "OrderHistory", "The Order histories", _fields(
    ID, Field("id_employee", "id", fk="employees"), Field("id_order_state", "id", required=True, fk="order_states"),
    Field("id_order", "id", required=True, fk="orders"), DATE_ADD,
), timestamps=("date_add",))

ORDER_CARRIERS = Resource("order_carriers", "order_carrier", "OrderCarrier", "The Order carriers", _fields(
    ID, Field("id_order", "id", required=True, fk="orders"), Field("id_carrier", "id", required=True, fk="carriers"),
    Field("id_order_invoice", "id", fk="order_invoices"), Field("weight", "float"),
    Field("shipping_cost_tax_excl", "float"), Field("shipping_cost_tax_incl", "float"),
    Field("tracking_number", max_length=64, format="isTrackingNumber"), DATE_ADD,
), timestamps=("date_add",))

ORDER_PAYMENTS = Resource("order_payments", "order_payment", "OrderPayment", "The Order payments", _fields(
    ID, Field("order_reference", max_length=9), Field("id_currency", "id", required=True, fk="currencies"),
    Field("amount", "price", required=True, format="isNegativePrice"), Field("payment_method", max_length=255),
    Field("conversion_rate", "float"), Field("transaction_id", max_length=254),
    Field("card_number", max_length=254), Field("card_brand", max_length=254),
    Field("card_expiration", max_length=254), Field("card_holder", max_length=254), DATE_ADD,
), timestamps=("date_add",))

ORDER_SLIP_DETAIL_FIELDS = (
    ID, Field("id_order_detail", "id", fk="order_details"), Field("product_quantity", "int"),
    Field("amount_tax_excl", "price"), Field("amount_tax_incl", "price"),
)

# Credit slips (OrderSlip.php, webservice fields as in PrestaShop's docs for 1.7/8). Made in the back office (the
# sandbox's `sandbox act ... refund`); writes through the webservice are not emulated (405 code 101).
ORDER_SLIPS = Resource("order_slip", "order_slip", "OrderSlip", "The Order slips", _fields(
    ID, Field("id_customer", "id", required=True, fk="customers"), Field("id_order", "id", required=True, fk="orders"),
    Field("conversion_rate", "float", required=True), Field("total_products_tax_excl", "float", required=True),
    Field("total_products_tax_incl", "float", required=True), Field("total_shipping_tax_excl", "float", required=True),
    Field("total_shipping_tax_incl", "float", required=True), Field("amount", "float"), Field("shipping_cost", "int"),
    Field("shipping_cost_amount", "float"), Field("partial", "int"), DATE_ADD, DATE_UPD,
    Field("order_slip_type", "int", format="isInt"),
), associations=(
    Association("order_slip_details", "order_slip_detail", "OrderSlipDetail", "order_slip_id",
                ORDER_SLIP_DETAIL_FIELDS, virtual_entity=True),
), forbidden_methods=frozenset({"POST", "PUT", "PATCH", "DELETE"}), timestamps=("date_add", "date_upd"),
   plural="order_slips")

RESOURCES = {r.name: r for r in (
    ADDRESSES, CARRIERS, COMBINATIONS, COUNTRIES, CURRENCIES, CUSTOMERS, LANGUAGES, ORDER_CARRIERS, ORDER_HISTORIES,
    ORDER_PAYMENTS, ORDER_SLIPS, ORDER_STATES, ORDERS, PRODUCTS, STOCK_AVAILABLES,
)}

ALL_METHODS = ("GET", "PUT", "POST", "PATCH", "DELETE", "HEAD")


def allowed_methods(resource, patch=True):
    """The methods a resource accepts; `patch` is False on a 1.7 shop (PATCH arrived with 8.0)."""
    return [m for m in ALL_METHODS if m not in resource.forbidden_methods and (patch or m != "PATCH")]


@dataclass
class Permissions:
    """What a key may do: {resource: [methods]}; None means every resource and method."""

    grants: dict | None = field(default=None)

    def resources(self):
        if self.grants is None:
            return list(RESOURCES)
        return [name for name in self.grants if name in RESOURCES]

    def allows(self, resource, method):
        if self.grants is None:
            return True
        return method in self.grants.get(resource, [])
