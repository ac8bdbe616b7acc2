"""Validates EWS responses written by the EWS fake against Microsoft's messages.xsd (and the
types.xsd it imports), with the xmlschema package.

    python ews_schema_check.py SCHEMA_DIR RESPONSE.xml...

Each file is one SOAP response envelope; the operation's response element (the first child of
soap:Body) is validated. Prints one line per file and exits non-zero if any is invalid.
"""

import os
import sys
import xml.etree.ElementTree as ET

import xmlschema

SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
NAMESPACES = {
    "t": "http://schemas.microsoft.com/exchange/services/2006/types",
    "m": "http://schemas.microsoft.com/exchange/services/2006/messages",
}
# A control: the check must reject a response with properties out of schema order.
CONTROL = (
    '<m:GetItemResponse xmlns:m="{m}" xmlns:t="{t}"><m:ResponseMessages>'
    '<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
    '<m:Items><t:Contact><t:Surname>B</t:Surname><t:GivenName>A</t:GivenName></t:Contact></m:Items>'
    "</m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>"
).format(**NAMESPACES)


def main():
    schema_dir, files = sys.argv[1], sys.argv[2:]
    # Microsoft's types.xsd breaks the Unique Particle Attribution rule (the Transition
    # substitution group of TransitionsType), which .NET tolerates and strict xmlschema refuses
    # while building the schema: build it in lax mode. Instances are still validated strictly.
    schema = xmlschema.XMLSchema(os.path.join(schema_dir, "messages.xsd"), validation="lax")
    if schema.is_valid(ET.fromstring(CONTROL), namespaces=NAMESPACES):
        print("the control response (properties out of order) passed: the check is not checking")
        sys.exit(2)
    bad = 0
    for path in files:
        body = ET.parse(path).getroot().find(f"{SOAP}Body")
        response = list(body)[0]
        # ElementTree drops prefix declarations; xsi:type="t:…" needs them.
        errors = list(schema.iter_errors(response, namespaces=NAMESPACES))
        if errors:
            bad += 1
            print(f"INVALID {os.path.basename(path)}: {errors[0].reason} at {errors[0].path}")
        else:
            print(f"valid {os.path.basename(path)}: {response.tag.split('}')[1]}")
    print(f"xmlschema {xmlschema.__version__}: {len(files) - bad}/{len(files)} responses valid")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
