//! The fixed catalogue the fake serves from: locations (each with its datacenter), server types
//! and system images, shaped like Hetzner's so that full server objects carry realistic nested
//! objects. Values are illustrative, not a price list.

use serde_json::{Value, json};

#[derive(Debug)]
pub(crate) struct Location {
    pub id: i64,
    pub name: &'static str,
    pub description: &'static str,
    pub country: &'static str,
    pub city: &'static str,
    pub latitude: f64,
    pub longitude: f64,
    pub network_zone: &'static str,
    pub datacenter_id: i64,
    pub datacenter: &'static str,
}

#[derive(Debug)]
pub(crate) struct ServerType {
    pub id: i64,
    pub name: &'static str,
    pub description: &'static str,
    pub cores: u32,
    pub memory: f64,
    pub disk: u32,
    pub cpu_type: &'static str,
    pub architecture: &'static str,
    /// Net EUR; gross adds 19 % VAT.
    pub hourly: f64,
    pub monthly: f64,
    pub locations: &'static [&'static str],
}

#[derive(Debug)]
pub(crate) struct Image {
    pub id: i64,
    pub name: &'static str,
    pub description: &'static str,
    pub os_flavor: &'static str,
    pub os_version: &'static str,
}

/// Where a server goes when the request names no location.
pub(crate) const DEFAULT_LOCATION: &str = "fsn1";
const INCLUDED_TRAFFIC: u64 = 21_990_232_555_520; // 20 TiB
const EU: &[&str] = &["fsn1", "nbg1", "hel1"];
const ALL: &[&str] = &["fsn1", "nbg1", "hel1", "ash", "hil", "sin"];

#[rustfmt::skip]
pub(crate) static LOCATIONS: &[Location] = &[
    Location { id: 1, name: "fsn1", description: "Falkenstein DC Park 1", country: "DE", city: "Falkenstein", latitude: 50.47612, longitude: 12.370071, network_zone: "eu-central", datacenter_id: 4, datacenter: "fsn1-dc14" },
    Location { id: 2, name: "nbg1", description: "Nuremberg DC Park 1", country: "DE", city: "Nuremberg", latitude: 49.452102, longitude: 11.076665, network_zone: "eu-central", datacenter_id: 2, datacenter: "nbg1-dc3" },
    Location { id: 3, name: "hel1", description: "Helsinki DC Park 1", country: "FI", city: "Helsinki", latitude: 60.169855, longitude: 24.938379, network_zone: "eu-central", datacenter_id: 3, datacenter: "hel1-dc2" },
    Location { id: 4, name: "ash", description: "Ashburn, VA", country: "US", city: "Ashburn, VA", latitude: 39.045821, longitude: -77.487073, network_zone: "us-east", datacenter_id: 5, datacenter: "ash-dc1" },
    Location { id: 5, name: "hil", description: "Hillsboro, OR", country: "US", city: "Hillsboro, OR", latitude: 45.54222, longitude: -122.951924, network_zone: "us-west", datacenter_id: 6, datacenter: "hil-dc1" },
    Location { id: 6, name: "sin", description: "Singapore", country: "SG", city: "Singapore", latitude: 1.283333, longitude: 103.833333, network_zone: "ap-southeast", datacenter_id: 7, datacenter: "sin-dc1" },
];

#[rustfmt::skip]
pub(crate) static SERVER_TYPES: &[ServerType] = &[
    ServerType { id: 22, name: "cx22", description: "CX22", cores: 2, memory: 4.0, disk: 40, cpu_type: "shared", architecture: "x86", hourly: 0.006, monthly: 3.79, locations: EU },
    ServerType { id: 23, name: "cx32", description: "CX32", cores: 4, memory: 8.0, disk: 80, cpu_type: "shared", architecture: "x86", hourly: 0.0113, monthly: 6.8, locations: EU },
    ServerType { id: 24, name: "cx42", description: "CX42", cores: 8, memory: 16.0, disk: 160, cpu_type: "shared", architecture: "x86", hourly: 0.0273, monthly: 16.4, locations: EU },
    ServerType { id: 25, name: "cx52", description: "CX52", cores: 16, memory: 32.0, disk: 320, cpu_type: "shared", architecture: "x86", hourly: 0.054, monthly: 32.4, locations: EU },
    ServerType { id: 45, name: "cax11", description: "CAX11", cores: 2, memory: 4.0, disk: 40, cpu_type: "shared", architecture: "arm", hourly: 0.0063, monthly: 3.79, locations: EU },
    ServerType { id: 93, name: "cax21", description: "CAX21", cores: 4, memory: 8.0, disk: 80, cpu_type: "shared", architecture: "arm", hourly: 0.0108, monthly: 6.49, locations: EU },
    ServerType { id: 104, name: "cpx11", description: "CPX 11", cores: 2, memory: 2.0, disk: 40, cpu_type: "shared", architecture: "x86", hourly: 0.0074, monthly: 4.35, locations: ALL },
    ServerType { id: 105, name: "cpx21", description: "CPX 21", cores: 3, memory: 4.0, disk: 80, cpu_type: "shared", architecture: "x86", hourly: 0.0127, monthly: 7.55, locations: ALL },
    ServerType { id: 106, name: "cpx31", description: "CPX 31", cores: 4, memory: 8.0, disk: 160, cpu_type: "shared", architecture: "x86", hourly: 0.0227, monthly: 13.6, locations: ALL },
    // The second CPX generation; cpx22 is the control plane's default type.
    ServerType { id: 114, name: "cpx12", description: "CPX 12", cores: 1, memory: 2.0, disk: 40, cpu_type: "shared", architecture: "x86", hourly: 0.0072, monthly: 4.49, locations: ALL },
    ServerType { id: 115, name: "cpx22", description: "CPX 22", cores: 2, memory: 4.0, disk: 80, cpu_type: "shared", architecture: "x86", hourly: 0.0112, monthly: 6.99, locations: ALL },
    ServerType { id: 116, name: "cpx32", description: "CPX 32", cores: 4, memory: 8.0, disk: 160, cpu_type: "shared", architecture: "x86", hourly: 0.0192, monthly: 11.99, locations: ALL },
    ServerType { id: 96, name: "ccx13", description: "CCX13 Dedicated CPU", cores: 2, memory: 8.0, disk: 80, cpu_type: "dedicated", architecture: "x86", hourly: 0.0208, monthly: 12.49, locations: ALL },
];

#[rustfmt::skip]
pub(crate) static IMAGES: &[Image] = &[
    Image { id: 114_690_387, name: "debian-12", description: "Debian 12", os_flavor: "debian", os_version: "12" },
    Image { id: 114_690_389, name: "debian-13", description: "Debian 13", os_flavor: "debian", os_version: "13" },
    Image { id: 67_794_396, name: "ubuntu-22.04", description: "Ubuntu 22.04", os_flavor: "ubuntu", os_version: "22.04" },
    Image { id: 161_547_269, name: "ubuntu-24.04", description: "Ubuntu 24.04", os_flavor: "ubuntu", os_version: "24.04" },
    Image { id: 103_908_070, name: "rocky-9", description: "Rocky Linux 9", os_flavor: "rocky", os_version: "9" },
];

/// A catalogue entry named in a request: by name (string) or id (number).
fn by_name_or_id<T>(
    items: &'static [T],
    key: &Value,
    name: fn(&T) -> &str,
    id: fn(&T) -> i64,
) -> Option<&'static T> {
    match key {
        Value::String(s) => items
            .iter()
            .find(|item| name(item) == s.as_str() || s.parse::<i64>().ok() == Some(id(item))),
        Value::Number(n) => n
            .as_i64()
            .and_then(|n| items.iter().find(|item| id(item) == n)),
        _ => None,
    }
}

pub(crate) fn server_type(key: &Value) -> Option<&'static ServerType> {
    by_name_or_id(SERVER_TYPES, key, |t| t.name, |t| t.id)
}

pub(crate) fn image(key: &Value) -> Option<&'static Image> {
    by_name_or_id(IMAGES, key, |i| i.name, |i| i.id)
}

pub(crate) fn location(key: &Value) -> Option<&'static Location> {
    by_name_or_id(LOCATIONS, key, |l| l.name, |l| l.id)
}

fn money(net: f64) -> Value {
    json!({ "net": format!("{net:.10}"), "gross": format!("{:.10}", net * 1.19) })
}

pub(crate) fn location_json(l: &Location) -> Value {
    json!({
        "id": l.id,
        "name": l.name,
        "description": l.description,
        "country": l.country,
        "city": l.city,
        "latitude": l.latitude,
        "longitude": l.longitude,
        "network_zone": l.network_zone,
    })
}

pub(crate) fn datacenter_json(l: &Location) -> Value {
    let here: Vec<i64> = SERVER_TYPES
        .iter()
        .filter(|t| t.locations.contains(&l.name))
        .map(|t| t.id)
        .collect();
    json!({
        "id": l.datacenter_id,
        "name": l.datacenter,
        "description": format!("{} virtual DC", l.city),
        "location": location_json(l),
        "server_types": {
            "supported": here,
            "available": here,
            "available_for_migration": here,
        },
    })
}

pub(crate) fn server_type_json(t: &ServerType) -> Value {
    let prices: Vec<Value> = t
        .locations
        .iter()
        .map(|loc| {
            json!({
                "location": loc,
                "price_hourly": money(t.hourly),
                "price_monthly": money(t.monthly),
                "included_traffic": INCLUDED_TRAFFIC,
                "price_per_tb_traffic": money(1.0),
            })
        })
        .collect();
    let locations: Vec<Value> = t
        .locations
        .iter()
        .filter_map(|name| LOCATIONS.iter().find(|l| l.name == *name))
        .map(|l| json!({ "id": l.id, "name": l.name, "deprecation": null }))
        .collect();
    json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "cores": t.cores,
        "memory": t.memory,
        "disk": t.disk,
        "deprecated": false,
        "deprecation": null,
        "prices": prices,
        "storage_type": "local",
        "cpu_type": t.cpu_type,
        "architecture": t.architecture,
        "included_traffic": INCLUDED_TRAFFIC,
        "locations": locations,
    })
}

pub(crate) fn image_json(i: &Image, architecture: &str) -> Value {
    json!({
        "id": i.id,
        "type": "system",
        "status": "available",
        "name": i.name,
        "description": i.description,
        "image_size": null,
        "disk_size": 5,
        "created": "2023-06-13T06:00:02+00:00",
        "created_from": null,
        "bound_to": null,
        "os_flavor": i.os_flavor,
        "os_version": i.os_version,
        "rapid_deploy": true,
        "protection": { "delete": false },
        "deprecated": null,
        "deleted": null,
        "labels": {},
        "architecture": architecture,
    })
}

pub(crate) fn included_traffic() -> u64 {
    INCLUDED_TRAFFIC
}
