"""A small telecom-style subscription project: no transactions; contract, services and
charges are client attributes, services also holdings, churn a label."""

from __future__ import annotations

import textwrap
from pathlib import Path

CONTRACTS = ("month-to-month", "one-year", "two-year")
SERVICES = ("phone", "internet", "tv")


def write_telecom(root: Path, n: int = 60, *, extra_yaml: str = "") -> Path:
    """Write the project (n subscribers) under ``root``; returns the project file."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    subs = ["customer,start,contract,services,monthly_charges,paperless,region"]
    holdings = ["customer,service,kind,since"]
    labels = ["customer,churned,observed"]
    for i in range(n):
        contract = CONTRACTS[i % 3]
        services = SERVICES[: 1 + i % 3]
        charges = 20.0 + 15 * len(services) + (i % 7)
        subs.append(
            f"s{i:03d},2023-{1 + i % 12:02d}-01,{contract},{len(services)},{charges},"
            f"{'yes' if i % 2 else 'no'},{'north' if i % 4 else 'south'}"
        )
        for s in services:
            holdings.append(f"s{i:03d},{s}-{i},{s},2023-{1 + i % 12:02d}-01")
        # month-to-month subscribers churn most: 2 of 3, others 1 of 5
        churned = (i % 3 == 0 and i % 9 != 0) or (i % 3 != 0 and i % 5 == 0)
        labels.append(f"s{i:03d},{int(churned)},2024-06-30")
    (data / "subscribers.csv").write_text("\n".join(subs) + "\n")
    (data / "services.csv").write_text("\n".join(holdings) + "\n")
    (data / "churn.csv").write_text("\n".join(labels) + "\n")
    config = root / "segmint.yaml"
    config.write_text(textwrap.dedent("""\
        project: telecom
        contracts: {max_date: 2024-06-30}
        sources:
          subs: {path: data/subscribers.csv}
          services: {path: data/services.csv}
          churn: {path: data/churn.csv}
        attributes:
          contract: {type: categorical, role: input, description: Contract length}
          services: {type: numeric, role: input, unit: services}
          monthly_charges: {type: numeric, role: input, unit: EUR}
          paperless: {type: boolean, role: profile}
        entities:
          clients:
            source: subs
            columns:
              client_id: customer
              onboarded_at: start
              region: region
              contract: contract
              services: services
              monthly_charges: monthly_charges
              paperless: paperless
          holdings:
            source: services
            columns: {client_id: customer, product_id: service, product_type: kind, opened_at: since}
          labels:
            source: churn
            columns: {client_id: customer, label: {sql: "'churn'"}, value: churned, observed_at: observed}
        segmentation:
          dimensions:
            - name: contract
              kind: rules
              rules:
                - {segment: Flexible, when: "attr_contract = 'month-to-month'"}
                - {segment: Committed, when: "attr_contract IN ('one-year', 'two-year')"}
              default: Unknown
        """) + extra_yaml)
    return config
