// UI strings: Simplified Chinese by default, English on the switch (remembered in localStorage).
const STRINGS = {
  zh: {
    title: "空天运行监视",
    "view.airspace": "空域",
    "view.space": "航天",
    "conn.on": "实时",
    "conn.off": "未连接",
    "key.placeholder": "API 密钥",
    "key.save": "保存",
    "key.missing": "请输入 API 密钥(X-API-Key)。",
    "key.invalid": "API 密钥无效或已撤销。",
    "alerts.title": "告警",
    "alerts.showCleared": "显示已解除",
    "alerts.ack": "确认",
    "alerts.locate": "定位",
    "alerts.acked": "已确认",
    "alerts.none": "暂无告警",
    "alert.zone_violation": "区域违规",
    "alert.overspeed": "超速",
    "alert.loss_of_separation": "间隔丧失",
    "alert.predicted_los": "预测间隔丧失",
    "alert.non_conformance": "偏离运行意图",
    "sev.critical": "严重",
    "sev.warning": "警告",
    "sev.info": "提示",
    "state.raised": "活动",
    "state.cleared": "已解除",
    "tracks.title": "航迹",
    "history.title": "历史回放",
    "history.show": "历史航迹",
    "history.stop": "关闭",
    "history.info": "{id}: {n} 个报告, {time}, {alt} m",
    "tracks.count": "{n} 条航迹",
    "kind.uas": "无人机",
    "kind.icao24": "航空器",
    "kind.mmsi": "船舶",
    "kind.vehicle": "车辆",
    "kind.other": "其他",
    "f.alt": "高度",
    "f.speed": "速度",
    "f.track": "航向",
    "f.vrate": "升降率",
    "f.time": "时间",
    "f.sources": "来源",
    "f.owner": "所属",
    "f.band": "高度带",
    "f.kind": "类型",
    "space.title": "星座",
    "space.catalog": "目录",
    "space.hours": "时长 (小时)",
    "space.step": "步长 (秒)",
    "space.load": "计算位置",
    "space.minElev": "最小仰角 (°)",
    "space.clickHint": "点击卫星查看星下点轨迹与覆盖范围",
    "space.job": "作业 {id}: {state} {pct}%",
    "space.loaded": "{n} 颗卫星, {t} 个时刻 (服务端 SGP4 星历)",
    "space.selected": "已选: NORAD {id}, 高度 {alt} km",
    "clock.play": "播放",
    "clock.pause": "暂停",
    "clock.start": "起点",
    "clock.now": "现在",
    "err.http": "请求失败: {status} {detail}",
  },
  en: {
    title: "Kongtian operations console",
    "view.airspace": "Airspace",
    "view.space": "Space",
    "conn.on": "Live",
    "conn.off": "Offline",
    "key.placeholder": "API key",
    "key.save": "Save",
    "key.missing": "Enter an API key (X-API-Key).",
    "key.invalid": "Invalid or revoked API key.",
    "alerts.title": "Alerts",
    "alerts.showCleared": "Show cleared",
    "alerts.ack": "Ack",
    "alerts.locate": "Locate",
    "alerts.acked": "Acknowledged",
    "alerts.none": "No alerts",
    "alert.zone_violation": "Zone violation",
    "alert.overspeed": "Overspeed",
    "alert.loss_of_separation": "Loss of separation",
    "alert.predicted_los": "Predicted loss of separation",
    "alert.non_conformance": "Non-conformance",
    "sev.critical": "critical",
    "sev.warning": "warning",
    "sev.info": "info",
    "state.raised": "active",
    "state.cleared": "cleared",
    "tracks.title": "Tracks",
    "history.title": "History playback",
    "history.show": "History",
    "history.stop": "Close",
    "history.info": "{id}: {n} reports, {time}, {alt} m",
    "tracks.count": "{n} tracks",
    "kind.uas": "UAV",
    "kind.icao24": "aircraft",
    "kind.mmsi": "vessel",
    "kind.vehicle": "vehicle",
    "kind.other": "other",
    "f.alt": "Altitude",
    "f.speed": "Speed",
    "f.track": "Track",
    "f.vrate": "Vertical rate",
    "f.time": "Time",
    "f.sources": "Sources",
    "f.owner": "Owner",
    "f.band": "Band",
    "f.kind": "Kind",
    "space.title": "Constellation",
    "space.catalog": "Catalog",
    "space.hours": "Window (h)",
    "space.step": "Step (s)",
    "space.load": "Compute positions",
    "space.minElev": "Min. elevation (°)",
    "space.clickHint": "Click a satellite for its ground track and footprint",
    "space.job": "Job {id}: {state} {pct}%",
    "space.loaded": "{n} satellites, {t} epochs (server-side SGP4 ephemeris)",
    "space.selected": "Selected: NORAD {id}, altitude {alt} km",
    "clock.play": "Play",
    "clock.pause": "Pause",
    "clock.start": "Start",
    "clock.now": "Now",
    "err.http": "Request failed: {status} {detail}",
  },
};

let lang = localStorage.getItem("kt.lang") === "en" ? "en" : "zh";
const listeners = [];

export function t(key, vars = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

export function getLang() {
  return lang;
}

export function setLang(l) {
  lang = l === "en" ? "en" : "zh";
  localStorage.setItem("kt.lang", lang);
  applyStatic();
  for (const f of listeners) f(lang);
}

export function onLang(f) {
  listeners.push(f);
}

/** Translate elements carrying data-i18n (text) or data-i18n-ph (placeholder). */
export function applyStatic() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-ph]")) el.placeholder = t(el.dataset.i18nPh);
  const btn = document.getElementById("lang");
  if (btn) btn.textContent = lang === "zh" ? "EN" : "中文";
}
