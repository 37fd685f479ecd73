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
    format: str | None = None  # overrides FORMATS, e.g. isEmail; only an explicit format is enforced on writes
    values: tuple = ()  # the only values allowed (ObjectModel 'values'); the first is the default for an empty one
    optional_in_8: bool = False  # required on 1.7 only (PrestaShop 8 relaxed it: products' name and link_rewrite)

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
    id_column: str = "id"  # the row's column shown as its `id` (a link table shows the linked record's id)
    setter: str | None = None  # how a write applies the association (see writes.write_associations); None: ignored
    distinct: bool = False  # show each id_column value once per parent (a SELECT DISTINCT getter)


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
    php_class: str = ""  # the class PrestaShop names in validation messages, when it is not the model's name

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

def _lang(name, max_length=None, format="isGenericName", required=False, optional_in_8=False):
    return Field(name, "lang", required=required, max_length=max_length, format=format, optional_in_8=optional_in_8)


# Products (classes/Product.php, $definition and $webserviceParameters, 1.7.8 and 8.1): the fields the webservice
# shows, their validators and sizes. `name` and `link_rewrite` are required on 1.7 and optional on 8.
PRODUCTS = Resource("products", "product", "Product", "The products", _fields(
    ID, Field("id_manufacturer", "id", fk="manufacturers"), Field("id_supplier", "id", fk="suppliers"),
    Field("id_category_default", "id", fk="categories"), Field("id_default_combination", "id", fk="combinations"),
    Field("id_tax_rules_group", "id", fk="tax_rule_groups"),
    Field("manufacturer_name", read_only=True), Field("quantity", "int", read_only=True),
    Field("type", max_length=32), Field("id_shop_default", "id", fk="shops"),
    Field("reference", max_length=64, format="isReference"),
    Field("supplier_reference", max_length=64, format="isReference"),
    Field("location", max_length=64, format="isReference"),
    Field("width", "float", format="isUnsignedFloat"), Field("height", "float", format="isUnsignedFloat"),
    Field("depth", "float", format="isUnsignedFloat"), Field("weight", "float", format="isUnsignedFloat"),
    Field("quantity_discount", "bool"), Field("ean13", max_length=13, format="isEan13"),
    Field("isbn", max_length=32, format="isIsbn"), Field("upc", max_length=12, format="isUpc"),
    Field("mpn", max_length=40, format="isMpn"), Field("cache_is_pack", "bool"),
    Field("cache_has_attachments", "bool"), Field("is_virtual", "bool"), Field("state", "int"),
    Field("additional_delivery_times", "int"), _lang("delivery_in_stock", 255), _lang("delivery_out_stock", 255),
    Field("product_type", max_length=32), Field("on_sale", "bool"), Field("online_only", "bool"),
    Field("ecotax", "price"), Field("minimal_quantity", "int", format="isUnsignedInt"),
    Field("low_stock_threshold", "int", format="isInt"), Field("low_stock_alert", "bool"),
    Field("price", "price", required=True), Field("wholesale_price", "price"),
    Field("unity", max_length=255, format="isString"), Field("unit_price_ratio", "float"),
    Field("additional_shipping_cost", "price"), Field("customizable", "int", format="isUnsignedInt"),
    Field("text_fields", "int", format="isUnsignedInt"), Field("uploadable_files", "int", format="isUnsignedInt"),
    Field("active", "bool"), Field("redirect_type", max_length=32, format="isString"),
    Field("id_type_redirected", "id"), Field("available_for_order", "bool"),
    Field("available_date", "date", format="isDateFormat"), Field("show_condition", "bool"),
    Field("condition", max_length=32, format="isGenericName", values=("new", "used", "refurbished")),
    Field("show_price", "bool"), Field("indexed", "bool"),
    Field("visibility", max_length=32, format="isProductVisibility", values=("both", "catalog", "search", "none")),
    Field("advanced_stock_management", "bool"), DATE_ADD, DATE_UPD, Field("pack_stock_type", "int"),
    _lang("meta_description", 512), _lang("meta_keywords", 255), _lang("meta_title", 255),
    _lang("link_rewrite", 128, "isLinkRewrite", required=True, optional_in_8=True),
    _lang("name", 128, "isCatalogName", required=True, optional_in_8=True),
    _lang("description", 65000, "isCleanHtml"), _lang("description_short", 65000, "isCleanHtml"),
    _lang("available_now", 255), _lang("available_later", 255),
), associations=(
    Association("categories", "category", "ProductCategory", "id_product", (ID,), api="categories",
                id_column="id_category", setter="categories"),
    Association("combinations", "combination", "Combination", "id_product", (ID,), api="combinations",
                setter="combinations"),
    # getWsProductOptionValues: the distinct option values of the product's combinations; no setter (ignored).
    Association("product_option_values", "product_option_value", "CombinationOptionValue", "id_product", (ID,),
                api="product_option_values", id_column="id_attribute", distinct=True),
    Association("product_features", "product_feature", "ProductFeatureLink", "id_product",
                (ID, Field("id_feature_value", "id", required=True, fk="product_feature_values")),
                api="product_features", id_column="id_feature", setter="product_features"),
    Association("stock_availables", "stock_available", "StockAvailable", "id_product",
                (ID, Field("id_product_attribute", "id", fk="combinations")), api="stock_availables"),
), timestamps=("date_add", "date_upd"))

COMBINATIONS = Resource("combinations", "combination", "Combination", "The product combinations", _fields(
    ID, Field("id_product", "id", required=True, fk="products"), Field("location", max_length=64),
    Field("ean13", max_length=13, format="isEan13"), Field("isbn", max_length=32, format="isIsbn"),
    Field("upc", max_length=12, format="isUpc"), Field("mpn", max_length=40, format="isMpn"),
    Field("reference", max_length=64, format="isReference"),
    Field("supplier_reference", max_length=64, format="isReference"), Field("wholesale_price", "price"),
    Field("price", "float", format="isNegativePrice"), Field("ecotax", "price"),
    Field("weight", "float", format="isFloat"), Field("unit_price_impact", "float", format="isNegativePrice"),
    Field("minimal_quantity", "int", required=True, format="isUnsignedId"),
    Field("low_stock_threshold", "int", format="isInt"), Field("low_stock_alert", "bool"),
    Field("default_on", "bool"), Field("available_date", "date", format="isDateFormat"),
), associations=(
    Association("product_option_values", "product_option_value", "CombinationOptionValue", "id_combination",
                (ID,), api="product_option_values", id_column="id_attribute", setter="option_values"),
))

# Attribute groups and attributes (AttributeGroup.php, Attribute.php / ProductAttribute.php in 8).
PRODUCT_OPTIONS = Resource("product_options", "product_option", "ProductOption", "The product options", _fields(
    ID, Field("is_color_group", "bool"), Field("group_type", required=True, max_length=32, format="isGenericName"),
    Field("position", "int", format="isInt"), _lang("name", 128, required=True),
    _lang("public_name", 64, required=True),
), associations=(
    Association("product_option_values", "product_option_value", "ProductOptionValue", "id_attribute_group",
                (ID,), api="product_option_values"),
), php_class="AttributeGroup")

PRODUCT_OPTION_VALUES = Resource("product_option_values", "product_option_value", "ProductOptionValue",
                                 "The product options value", _fields(
    ID, Field("id_attribute_group", "id", required=True, fk="product_options"),
    Field("color", max_length=32, format="isColor"), Field("position", "int", format="isInt"),
    _lang("name", 128, required=True),
), php_class="ProductAttribute")

# Features and their values (Feature.php, FeatureValue.php).
PRODUCT_FEATURES = Resource("product_features", "product_feature", "ProductFeature", "The product features", _fields(
    ID, Field("position", "int", format="isInt"), _lang("name", 128, required=True),
), php_class="Feature")

PRODUCT_FEATURE_VALUES = Resource("product_feature_values", "product_feature_value", "ProductFeatureValue",
                                  "The product feature values", _fields(
    ID, Field("id_feature", "id", required=True, fk="product_features"), Field("custom", "bool"),
    _lang("value", 255, required=True),
), php_class="FeatureValue")

# SpecificPrice.php: every id but id_product_attribute / id_shop_group / id_specific_price_rule is required (0 means
# "all"); `from` / `to` are shop-local datetimes, "0000-00-00 00:00:00" meaning open-ended; no date_add / date_upd.
SPECIFIC_PRICES = Resource("specific_prices", "specific_price", "SpecificPrice", "The specific prices", _fields(
    ID, Field("id_shop_group", "id", fk="shop_groups"), Field("id_shop", "id", required=True, fk="shops"),
    Field("id_cart", "id", required=True, fk="carts"), Field("id_product", "id", required=True, fk="products"),
    Field("id_product_attribute", "id", fk="combinations"),
    Field("id_currency", "id", required=True, fk="currencies"),
    Field("id_specific_price_rule", "id", fk="specific_price_rules"),
    Field("id_country", "id", required=True, fk="countries"), Field("id_group", "id", required=True, fk="groups"),
    Field("id_customer", "id", required=True, fk="customers"),
    Field("price", "price", required=True, format="isNegativePrice"),
    Field("from_quantity", "int", required=True, format="isUnsignedInt"),
    Field("reduction", "price", required=True), Field("reduction_tax", "bool", required=True),
    Field("reduction_type", required=True, max_length=32, format="isReductionType"),
    Field("from", "datetime", required=True, format="isDateFormat"),
    Field("to", "datetime", required=True, format="isDateFormat"),
))

# Categories (Category.php): products point at them; Root and Home are seeded.
CATEGORIES = Resource("categories", "category", "Category", "The product categories", _fields(
    ID, Field("id_parent", "id", fk="categories"), Field("level_depth", "int", read_only=True),
    Field("nb_products_recursive", "int", read_only=True), Field("active", "bool", required=True),
    Field("id_shop_default", "id", fk="shops"), Field("is_root_category", "bool"), Field("position", "int"),
    DATE_ADD, DATE_UPD, _lang("name", 128, "isCatalogName", required=True),
    _lang("link_rewrite", 128, "isLinkRewrite", required=True), _lang("description", 65000, "isCleanHtml"),
    _lang("meta_title", 255), _lang("meta_description", 512), _lang("meta_keywords", 255),
), timestamps=("date_add", "date_upd"))

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
    ADDRESSES, CARRIERS, CATEGORIES, COMBINATIONS, COUNTRIES, CURRENCIES, CUSTOMERS, LANGUAGES, ORDER_CARRIERS,
    ORDER_HISTORIES, ORDER_PAYMENTS, ORDER_SLIPS, ORDER_STATES, ORDERS, PRODUCT_FEATURE_VALUES, PRODUCT_FEATURES,
    PRODUCT_OPTION_VALUES, PRODUCT_OPTIONS, PRODUCTS, SPECIFIC_PRICES, STOCK_AVAILABLES,
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
