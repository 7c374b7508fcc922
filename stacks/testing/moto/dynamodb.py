"""DynamoDB: the team-mode journal table."""

from __future__ import annotations

from stacks.testing.moto.base import Service, tag_list


class DynamoDb(Service):
    TYPES = {
        "aws:dynamodb/table:Table": "_table",
    }

    def _table(self, name: str, inputs: dict) -> tuple[str, dict]:
        dynamodb = self.client("dynamodb")
        table_name = inputs.get("name") or name
        keys = [{"AttributeName": inputs["hashKey"], "KeyType": "HASH"}]
        if inputs.get("rangeKey"):
            keys.append({"AttributeName": inputs["rangeKey"], "KeyType": "RANGE"})
        table = dynamodb.create_table(
            TableName=table_name,
            BillingMode=inputs.get("billingMode", "PAY_PER_REQUEST"),
            KeySchema=keys,
            AttributeDefinitions=[
                {"AttributeName": a["name"], "AttributeType": a["type"]} for a in inputs["attributes"]
            ],
            SSESpecification={"Enabled": bool((inputs.get("serverSideEncryption") or {}).get("enabled"))},
            Tags=tag_list(inputs.get("tags")),
        )["TableDescription"]
        ttl = inputs.get("ttl") or {}
        if ttl.get("enabled"):
            dynamodb.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["attributeName"]},
            )
        if (inputs.get("pointInTimeRecovery") or {}).get("enabled"):
            dynamodb.update_continuous_backups(
                TableName=table_name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        return table_name, {"name": table_name, "arn": table["TableArn"]}
